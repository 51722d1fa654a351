/*-------------------------------------------------------------------------
 *
 * envelope.h
 *	  The typed envelope every message carries, read from its headers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_ENVELOPE_H
#define COURIER_ENVELOPE_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* Longest text envelope field, in characters. */
#define COURIER_MAX_ENVELOPE_TEXT	256

/* Text envelope fields, in the order the SQL statements bind them. */
typedef enum CourierEnvelopeText
{
	ENV_TYPE = 0,
	ENV_CORRELATION_ID,
	ENV_CAUSATION_ID,
	ENV_IDEMPOTENCY_KEY,
	ENV_TENANT_ID,
	ENV_NUM_TEXT
} CourierEnvelopeText;

typedef struct CourierEnvelope
{
	text	   *text_fields[ENV_NUM_TEXT];	/* NULL when absent */
	int32		schema_version;
	bool		has_schema_version;
	TimestampTz occurred_at;
	bool		has_occurred_at;
	Jsonb	   *headers;		/* what is left after the reserved keys; NULL
								 * when nothing is */
} CourierEnvelope;

extern void CourierReadEnvelope(Jsonb *headers, CourierEnvelope *env);

#endif							/* COURIER_ENVELOPE_H */
