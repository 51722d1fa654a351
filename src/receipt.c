/*-------------------------------------------------------------------------
 *
 * receipt.c
 *	  Receipts: the text that names one lease of one message.
 *
 * A receipt reads "<msg_id>:<receive_count>:<nonce>", the nonce being 16 hex
 * digits; a FIFO queue's receipts end in ":g", which sends acknowledgements
 * through the path that takes the message group's lock first (a receipt of
 * one kind never matches a message of the other).  (msg_id, receive_count) names the delivery: every receive bumps
 * receive_count, so a receipt of an earlier delivery matches nothing once the
 * message has been received again.  The nonce is drawn from a strong random
 * source for each receive call and stored with the lease, so a receipt cannot
 * be guessed from a message id.  Clients should treat receipts as opaque.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "receipt.h"

static pg_attribute_noreturn() void
InvalidReceipt(const char *str)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid receipt \"%s\"", str),
			 errdetail("A receipt is the text courier.receive() returned in its receipt column.")));
}

/* Parse an unsigned decimal; advance *p.  False on no digits or overflow. */
static bool
ParseDecimal(const char **p, int64 max, int64 *result)
{
	const char *s = *p;
	int64		v = 0;

	if (!isdigit((unsigned char) *s))
		return false;
	while (isdigit((unsigned char) *s))
	{
		int			d = *s - '0';

		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*result = v;
	return true;
}

void
CourierParseReceipt(const char *str, CourierReceipt *receipt)
{
	const char *p = str;
	int64		v;
	uint64		nonce = 0;
	int			i;

	if (!ParseDecimal(&p, PG_INT64_MAX, &v) || *p++ != ':')
		InvalidReceipt(str);
	receipt->msg_id = v;
	if (!ParseDecimal(&p, PG_INT32_MAX, &v) || v < 1 || *p++ != ':')
		InvalidReceipt(str);
	receipt->receive_count = (int32) v;
	for (i = 0; i < COURIER_NONCE_TEXT_LEN; i++)
	{
		char		c = p[i];
		int			d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			InvalidReceipt(str);
		nonce = (nonce << 4) | (uint64) d;
	}
	receipt->nonce = (int64) nonce;
	p += COURIER_NONCE_TEXT_LEN;
	receipt->fifo = (p[0] == ':' && p[1] == 'g');
	if (receipt->fifo)
		p += 2;
	if (*p != '\0')
		InvalidReceipt(str);
}

int64
CourierNewNonce(void)
{
	uint64		nonce;

	if (!pg_strong_random(&nonce, sizeof(nonce)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random receipt nonce")));
	return (int64) nonce;
}

void
CourierNonceText(int64 nonce, char *buf)
{
	snprintf(buf, COURIER_NONCE_TEXT_LEN + 1, "%016llx", (unsigned long long) nonce);
}
