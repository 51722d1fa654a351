/*-------------------------------------------------------------------------
 *
 * pattern_int.h
 *	  The compiled form of a pattern, shared by the files of the pattern
 *	  engine (pattern.c, ruleset.c) and by nothing else.
 *
 * The vocabulary (pattern, path, condition, field, term, leaf value,
 * candidate) is defined at the top of pattern.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_PATTERN_INT_H
#define COURIER_PATTERN_INT_H

#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "pattern.h"

typedef struct PatString
{
	char	   *str;
	int			len;
} PatString;

/* A wildcard: the literal pieces between its '*', escapes removed. */
typedef struct PatWildcard
{
	int			nparts;			/* number of '*' plus one */
	PatString  *parts;
} PatWildcard;

typedef struct PatCidr
{
	int			family;			/* 4 or 6 */
	int			bits;
	uint8		addr[16];		/* host bits cleared */
} PatCidr;

typedef enum PatCondKind
{
	COND_STRING,				/* exact string */
	COND_NUMBER,				/* exact number, by value */
	COND_NULL,
	COND_BOOL,
	COND_PREFIX,
	COND_SUFFIX,
	COND_EQUALS_IGNORE_CASE,
	COND_WILDCARD,
	COND_NUMERIC,
	COND_EXISTS,
	COND_CIDR,
	COND_BUT_STRINGS,			/* anything-but "a" / ["a", "b"] */
	COND_BUT_NUMBERS,			/* anything-but 1 / [1, 2] */
	COND_BUT_PREFIX,
	COND_BUT_SUFFIX,
	COND_BUT_IGNORE_CASE,
	COND_BUT_WILDCARD
} PatCondKind;

typedef struct PatCond
{
	PatCondKind kind;
	bool		ignore_case;	/* prefix, suffix: strings are lower-cased */
	bool		flag;			/* COND_BOOL value; COND_EXISTS value */
	int			nstrings;		/* strings, prefixes, suffixes; lower-cased
								 * when compared ignoring case */
	PatString  *strings;
	int			nnumbers;
	Numeric    *numbers;
	int			nwildcards;
	PatWildcard *wildcards;
	Numeric		lower;			/* COND_NUMERIC bounds; NULL = unbounded */
	Numeric		upper;
	bool		lower_inclusive;
	bool		upper_inclusive;
	PatCidr		cidr;
} PatCond;

typedef struct PatField
{
	char	   *path;			/* dotted path, e.g. "detail.state.status" */
	int			nsegs;			/* path split at every dot */
	int		   *seg_start;
	int		   *seg_end;
	int			nconds;
	PatCond    *conds;
	bool		absent_ok;		/* has {"exists": false} */
} PatField;

typedef struct PatTerm
{
	int			nfields;
	PatField  **fields;
} PatTerm;

struct CourierPattern
{
	int			nterms;
	PatTerm    *terms;
	int			max_fields;
	bool		match_all;		/* an empty SNS filter policy: everything
								 * passes, whatever the document */
};

/* Matching */

/* An array element a leaf value sits in. */
typedef struct ArrayStep
{
	const JsonbContainer *array;
	int			index;
} ArrayStep;

/* A candidate's membership: steps[start .. start + len - 1]. */
typedef struct Candidate
{
	int			start;
	int			len;
} Candidate;

/* Called for every leaf value found at a path (PatCollectLeaves). */
typedef void (*PatLeafCallback) (const JsonbValue *value, void *arg);

typedef struct MatchState
{
	const PatField *field;		/* the field being collected */
	bool		saw_leaf;		/* did its path hold any leaf value? */
	bool		field_done;		/* found a candidate outside every array */

	ArrayStep  *chain;			/* the array elements the walk is in */
	int			chainlen;
	int			chainmax;

	ArrayStep  *steps;			/* memberships of the term's candidates */
	int			nsteps;
	int			maxsteps;

	Candidate  *cands;
	int			ncands;
	int			maxcands;

	int		   *first;			/* per field of the term: its candidates */
	int		   *count;
	int		   *chosen;
	int			max_fields;		/* room in first, count and chosen */

	PatLeafCallback collect;	/* set: report leaf values, match nothing */
	void	   *collect_arg;
} MatchState;

extern void PatMatchStateInit(MatchState *ms, int max_fields);
extern void PatMatchStateFree(MatchState *ms);
extern bool PatMatchTerm(MatchState *ms, const PatTerm *term, JsonbContainer *root);
extern void PatCollectLeaves(MatchState *ms, const PatField *field, JsonbContainer *root,
							 PatLeafCallback callback, void *arg);

#endif							/* COURIER_PATTERN_INT_H */
