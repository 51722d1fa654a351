/*-------------------------------------------------------------------------
 *
 * receipt.h
 *	  Receipts: the text that names one lease of one message.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_RECEIPT_H
#define COURIER_RECEIPT_H

typedef struct CourierReceipt
{
	int64		msg_id;
	int32		receive_count;	/* the delivery this lease belongs to */
	int64		nonce;			/* random, chosen by the receive call */
	bool		fifo;			/* issued by a FIFO queue (suffix ":g") */
} CourierReceipt;

extern void CourierParseReceipt(const char *str, CourierReceipt *receipt);
extern int64 CourierNewNonce(void);
extern void CourierNonceText(int64 nonce, char *buf);	/* buf: 17 bytes */

#define COURIER_NONCE_TEXT_LEN 16

#endif							/* COURIER_RECEIPT_H */
