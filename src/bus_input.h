/* placeholder until the input shaping module lands */
#ifndef COURIER_BUS_INPUT_H
#define COURIER_BUS_INPUT_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

typedef struct CourierTargetInput CourierTargetInput;
typedef struct CourierInputContext
{
	const char *rule_name;
	const char *rule_arn;
	TimestampTz ingestion_time;
} CourierInputContext;

extern CourierTargetInput *CourierTargetInputCompile(Jsonb *input, text *input_path,
													 Jsonb *input_transformer,
													 MemoryContext cxt);
extern Jsonb *CourierTargetInputApply(const CourierTargetInput *ti, Jsonb *event,
									  const CourierInputContext *ctx);
extern char *CourierRuleArn(const char *bus_name, const char *rule_name);

#endif
