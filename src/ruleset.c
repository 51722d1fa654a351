/*-------------------------------------------------------------------------
 *
 * ruleset.c
 *	  Rule sets: many compiled patterns matched against one event at once.
 *
 * Vocabulary (pattern, path, condition, field, term, leaf value: see
 * pattern.c), and:
 *
 *	  exact field	a field whose conditions are all exact values (strings,
 *					numbers, true, false, null).  A term with an exact field
 *					can only match an event that has one of those values at
 *					that path
 *	  anchor		the exact field a term is indexed by: of its exact
 *					fields, the one whose values the fewest other fields of
 *					the set also list (the most selective, as far as the set
 *					can tell)
 *	  index key		an anchor path, a zero byte, and a value in canonical
 *					form (a type letter, then the string, or the number as
 *					numeric_normalize writes it, so 300 and 300.0 meet)
 *	  candidate		a term whose anchor holds a value the event has at the
 *					anchor's path
 *
 * Matching an event walks it once per distinct anchor path, looks each leaf
 * value found there up in a hash table, and evaluates only the candidate
 * terms in full (PatMatchTerm, the same code CourierPatternMatch runs), plus
 * the terms that have no exact field, which cannot be indexed this way.  So
 * the work grows with the number of anchor paths and candidates, not with
 * the number of rules: this is the approach of AWS's event-ruler, which
 * keys its state machine on the exact values of fields.  Answers are the
 * same as matching every pattern in turn (test/sql/rule_sets.sql compares
 * them on random patterns and events).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "pg_courier.h"
#include "pattern_int.h"
#include "ruleset.h"

/* One term of one pattern. */
typedef struct TermRef
{
	int			pattern;
	int			term;
} TermRef;

/* An index key, with the terms anchored on it. */
typedef struct IndexEntry
{
	uint32		hash;
	int			keylen;
	char	   *key;
	int			uses;			/* exact fields listing this value here */
	int			path;			/* for a path's own entry: its number */
	int			nrefs;
	int			maxrefs;
	TermRef    *refs;
} IndexEntry;

typedef struct HashSlot
{
	uint32		hash;
	int			entry;
} HashSlot;

struct CourierRuleSet
{
	int			npatterns;
	CourierPattern **patterns;
	int			max_fields;

	/*
	 * The hash table: open addressing; a slot holds an entry's number + 1
	 * (0: empty) and its hash, so that probing past other keys does not
	 * touch their entries.
	 */
	int			nentries;
	int			maxentries;
	IndexEntry *entries;
	int			nslots;			/* a power of two */
	HashSlot   *slots;

	/* the distinct anchor paths, each with a field that has it */
	int			npaths;
	int			maxpaths;
	const PatField **paths;

	/* terms without an exact field, and patterns that match everything */
	int			nunindexed;
	int			maxunindexed;
	TermRef    *unindexed;
	int			nalways;
	int		   *always;
};

static bool
IsExactCond(const PatCond *c)
{
	return c->kind == COND_STRING || c->kind == COND_NUMBER ||
		c->kind == COND_NULL || c->kind == COND_BOOL;
}

static bool
IsExactField(const PatField *f)
{
	int			i;

	if (f->nconds == 0)
		return false;
	for (i = 0; i < f->nconds; i++)
		if (!IsExactCond(&f->conds[i]))
			return false;
	return true;
}

static void
AppendNumberKey(StringInfo buf, Numeric n)
{
	char	   *text = numeric_normalize(n);

	appendStringInfoChar(buf, 'n');
	appendStringInfoString(buf, text);
	pfree(text);
}

/* The canonical form of an exact condition's value. */
static void
AppendCondKey(StringInfo buf, const PatCond *c)
{
	switch (c->kind)
	{
		case COND_STRING:
			appendStringInfoChar(buf, 's');
			appendBinaryStringInfo(buf, c->strings[0].str, c->strings[0].len);
			break;
		case COND_NUMBER:
			AppendNumberKey(buf, c->numbers[0]);
			break;
		case COND_NULL:
			appendStringInfoChar(buf, 'z');
			break;
		case COND_BOOL:
			appendStringInfoChar(buf, c->flag ? 't' : 'f');
			break;
		default:
			elog(ERROR, "courier: condition of kind %d is not an exact value", (int) c->kind);
	}
}

/* The canonical form of a leaf value of an event, as AppendCondKey. */
static void
AppendValueKey(StringInfo buf, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			appendStringInfoChar(buf, 's');
			appendBinaryStringInfo(buf, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			AppendNumberKey(buf, v->val.numeric);
			break;
		case jbvNull:
			appendStringInfoChar(buf, 'z');
			break;
		case jbvBool:
			appendStringInfoChar(buf, v->val.boolean ? 't' : 'f');
			break;
		default:
			/* not a scalar: matches no exact value */
			appendStringInfoChar(buf, '?');
			break;
	}
}

static int
FindEntry(const CourierRuleSet *set, const char *key, int keylen, uint32 hash)
{
	uint32		mask = (uint32) set->nslots - 1;
	uint32		i = hash & mask;

	for (;;)
	{
		const HashSlot *slot = &set->slots[i];

		if (slot->entry == 0)
			return -1;
		if (slot->hash == hash)
		{
			const IndexEntry *ent = &set->entries[slot->entry - 1];

			if (ent->keylen == keylen && memcmp(ent->key, key, keylen) == 0)
				return slot->entry - 1;
		}
		i = (i + 1) & mask;
	}
}

static void
PutSlot(CourierRuleSet *set, int e)
{
	uint32		mask = (uint32) set->nslots - 1;
	uint32		i = set->entries[e].hash & mask;

	while (set->slots[i].entry != 0)
		i = (i + 1) & mask;
	set->slots[i].hash = set->entries[e].hash;
	set->slots[i].entry = e + 1;
}

/* The entry of key, added if new; the caller is in the set's context. */
static IndexEntry *
EnterKey(CourierRuleSet *set, const char *key, int keylen)
{
	uint32		hash = hash_bytes((const unsigned char *) key, keylen);
	int			e = FindEntry(set, key, keylen, hash);
	IndexEntry *ent;

	if (e >= 0)
		return &set->entries[e];

	/* keep the table at most half full */
	if ((set->nentries + 1) * 2 > set->nslots)
	{
		int			i;

		pfree(set->slots);
		set->nslots *= 2;
		set->slots = palloc0(sizeof(HashSlot) * set->nslots);
		for (i = 0; i < set->nentries; i++)
			PutSlot(set, i);
	}
	if (set->nentries == set->maxentries)
	{
		set->maxentries *= 2;
		set->entries = repalloc(set->entries, sizeof(IndexEntry) * set->maxentries);
	}
	e = set->nentries++;
	ent = &set->entries[e];
	memset(ent, 0, sizeof(IndexEntry));
	ent->hash = hash;
	ent->keylen = keylen;
	ent->key = palloc(keylen);
	memcpy(ent->key, key, keylen);
	ent->path = -1;
	PutSlot(set, e);
	return ent;
}

static void
AddRef(TermRef **refs, int *n, int *max, int pattern, int term)
{
	/* a field listing one value twice would add its term twice in a row */
	if (*n > 0 && (*refs)[*n - 1].pattern == pattern && (*refs)[*n - 1].term == term)
		return;
	if (*n == *max)
	{
		*max = Max(*max * 2, 4);
		*refs = *refs == NULL ? palloc(sizeof(TermRef) * *max)
			: repalloc(*refs, sizeof(TermRef) * *max);
	}
	(*refs)[*n].pattern = pattern;
	(*refs)[*n].term = term;
	(*n)++;
}

/* key := path, a zero byte, then (if c) c's value. */
static void
MakeKey(StringInfo key, const char *path, const PatCond *c)
{
	resetStringInfo(key);
	appendStringInfoString(key, path);
	appendStringInfoChar(key, '\0');
	if (c != NULL)
		AppendCondKey(key, c);
}

CourierRuleSet *
CourierRuleSetBuild(CourierPattern *const *patterns, int npatterns, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	CourierRuleSet *set = palloc0(sizeof(CourierRuleSet));
	StringInfoData key;
	int			p;
	int			t;
	int			i;
	int			k;

	set->npatterns = npatterns;
	set->patterns = palloc(sizeof(CourierPattern *) * Max(npatterns, 1));
	memcpy(set->patterns, patterns, sizeof(CourierPattern *) * npatterns);
	set->maxentries = 64;
	set->entries = palloc(sizeof(IndexEntry) * set->maxentries);
	set->nslots = 128;
	set->slots = palloc0(sizeof(HashSlot) * set->nslots);
	set->always = palloc(sizeof(int) * Max(npatterns, 1));
	initStringInfo(&key);

	/* count how many exact fields list each value at each path */
	for (p = 0; p < npatterns; p++)
	{
		const CourierPattern *pat = patterns[p];

		CHECK_FOR_INTERRUPTS();
		set->max_fields = Max(set->max_fields, pat->max_fields);
		for (t = 0; t < pat->nterms; t++)
		{
			const PatTerm *term = &pat->terms[t];

			for (i = 0; i < term->nfields; i++)
			{
				const PatField *f = term->fields[i];

				if (!IsExactField(f))
					continue;
				for (k = 0; k < f->nconds; k++)
				{
					MakeKey(&key, f->path, &f->conds[k]);
					EnterKey(set, key.data, key.len)->uses++;
				}
			}
		}
	}

	/* anchor each term on its most selective exact field */
	for (p = 0; p < npatterns; p++)
	{
		const CourierPattern *pat = patterns[p];

		CHECK_FOR_INTERRUPTS();
		if (pat->match_all)
		{
			set->always[set->nalways++] = p;
			continue;
		}
		for (t = 0; t < pat->nterms; t++)
		{
			const PatTerm *term = &pat->terms[t];
			const PatField *anchor = NULL;
			double		best = 0;
			IndexEntry *pathent;

			for (i = 0; i < term->nfields; i++)
			{
				const PatField *f = term->fields[i];
				double		cost = 0;

				if (!IsExactField(f))
					continue;
				for (k = 0; k < f->nconds; k++)
				{
					MakeKey(&key, f->path, &f->conds[k]);
					cost += EnterKey(set, key.data, key.len)->uses;
				}
				if (anchor == NULL || cost < best)
				{
					anchor = f;
					best = cost;
				}
			}
			if (anchor == NULL)
			{
				AddRef(&set->unindexed, &set->nunindexed, &set->maxunindexed, p, t);
				continue;
			}

			/* the path's own entry numbers it */
			MakeKey(&key, anchor->path, NULL);
			pathent = EnterKey(set, key.data, key.len);
			if (pathent->path < 0)
			{
				if (set->npaths == set->maxpaths)
				{
					set->maxpaths = Max(set->maxpaths * 2, 4);
					set->paths = set->paths == NULL
						? palloc(sizeof(PatField *) * set->maxpaths)
						: repalloc(set->paths, sizeof(PatField *) * set->maxpaths);
				}
				pathent->path = set->npaths;
				set->paths[set->npaths++] = anchor;
			}
			for (k = 0; k < anchor->nconds; k++)
			{
				IndexEntry *ent;

				MakeKey(&key, anchor->path, &anchor->conds[k]);
				ent = EnterKey(set, key.data, key.len);
				AddRef(&ent->refs, &ent->nrefs, &ent->maxrefs, p, t);
			}
		}
	}
	pfree(key.data);
	MemoryContextSwitchTo(old);
	return set;
}

int
CourierRuleSetSize(const CourierRuleSet *set)
{
	return set->npatterns;
}

/* The walk's state while looking up the leaf values of one anchor path. */
typedef struct Probe
{
	const CourierRuleSet *set;
	StringInfoData key;
	int			prefix_len;		/* the path and its zero byte */
	TermRef    *cands;
	int			ncands;
	int			maxcands;
} Probe;

static void
ProbeLeaf(const JsonbValue *value, void *arg)
{
	Probe	   *pr = (Probe *) arg;
	const CourierRuleSet *set = pr->set;
	int			e;
	int			i;

	pr->key.len = pr->prefix_len;
	pr->key.data[pr->key.len] = '\0';
	AppendValueKey(&pr->key, value);
	e = FindEntry(set, pr->key.data, pr->key.len,
				  hash_bytes((const unsigned char *) pr->key.data, pr->key.len));
	if (e < 0)
		return;
	for (i = 0; i < set->entries[e].nrefs; i++)
	{
		const TermRef *ref = &set->entries[e].refs[i];

		AddRef(&pr->cands, &pr->ncands, &pr->maxcands, ref->pattern, ref->term);
	}
}

static int
CompareInts(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/* The patterns found so far, duplicates included. */
typedef struct Found
{
	int		   *ids;
	int			n;
	int			max;
} Found;

static void
AddFound(Found *found, int pattern)
{
	/* a pattern two of whose terms are candidates may come twice */
	if (found->n > 0 && found->ids[found->n - 1] == pattern)
		return;
	if (found->n == found->max)
	{
		found->max *= 2;
		found->ids = repalloc(found->ids, sizeof(int) * found->max);
	}
	found->ids[found->n++] = pattern;
}

/* Evaluate one term in full. */
static void
TryTerm(const CourierRuleSet *set, MatchState *ms, JsonbContainer *root,
		const TermRef *ref, Found *found)
{
	if (found->n > 0 && found->ids[found->n - 1] == ref->pattern)
		return;
	if (PatMatchTerm(ms, &set->patterns[ref->pattern]->terms[ref->term], root))
		AddFound(found, ref->pattern);
}

int
CourierRuleSetMatch(const CourierRuleSet *set, Jsonb *event, int *matches)
{
	MatchState	ms;
	Probe		pr;
	Found		found;
	int			nmatches;
	int			i;

	/*
	 * Nothing here costs in proportion to the number of patterns: no flags
	 * per pattern, only the candidates, the unindexed terms and the matches.
	 */
	if (!JB_ROOT_IS_OBJECT(event) || set->npatterns == set->nalways)
	{
		memcpy(matches, set->always, sizeof(int) * set->nalways);
		return set->nalways;
	}

	found.max = 16 + set->nalways;
	found.ids = palloc(sizeof(int) * found.max);
	found.n = 0;
	for (i = 0; i < set->nalways; i++)
		AddFound(&found, set->always[i]);
	PatMatchStateInit(&ms, set->max_fields);

	/* the candidates: terms anchored on a value the event has */
	memset(&pr, 0, sizeof(pr));
	pr.set = set;
	initStringInfo(&pr.key);
	for (i = 0; i < set->npaths; i++)
	{
		resetStringInfo(&pr.key);
		appendStringInfoString(&pr.key, set->paths[i]->path);
		appendStringInfoChar(&pr.key, '\0');
		pr.prefix_len = pr.key.len;
		PatCollectLeaves(&ms, set->paths[i], &event->root, ProbeLeaf, &pr);
	}

	for (i = 0; i < pr.ncands; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		TryTerm(set, &ms, &event->root, &pr.cands[i], &found);
	}
	for (i = 0; i < set->nunindexed; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		TryTerm(set, &ms, &event->root, &set->unindexed[i], &found);
	}

	/* ascending, each pattern once */
	if (found.n > 1)
		qsort(found.ids, found.n, sizeof(int), CompareInts);
	nmatches = 0;
	for (i = 0; i < found.n; i++)
		if (nmatches == 0 || found.ids[i] != matches[nmatches - 1])
			matches[nmatches++] = found.ids[i];

	PatMatchStateFree(&ms);
	pfree(pr.key.data);
	if (pr.cands != NULL)
		pfree(pr.cands);
	pfree(found.ids);
	return nmatches;
}

int
CourierRuleSetMatchEach(const CourierRuleSet *set, Jsonb *event, int *matches)
{
	MatchState	ms;
	int			nmatches = 0;
	int			p;

	PatMatchStateInit(&ms, set->max_fields);
	for (p = 0; p < set->npatterns; p++)
	{
		const CourierPattern *pat = set->patterns[p];
		int			t;

		if ((p & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (pat->match_all)
		{
			matches[nmatches++] = p;
			continue;
		}
		if (!JB_ROOT_IS_OBJECT(event))
			continue;
		for (t = 0; t < pat->nterms; t++)
		{
			if (PatMatchTerm(&ms, &pat->terms[t], &event->root))
			{
				matches[nmatches++] = p;
				break;
			}
		}
	}
	PatMatchStateFree(&ms);
	return nmatches;
}

/* SQL interface */

/* The rule set one call site built last, kept across calls. */
typedef struct RuleSetCache
{
	MemoryContext cxt;
	ArrayType  *source;			/* the array it was built from */
	bool		from_const;		/* the argument is a constant of the query */
	CourierRuleSet *set;
	int		   *matches;		/* room for every pattern, reused per call */
} RuleSetCache;

/* Is argument argno of the call a Const, fixed for this FmgrInfo's life? */
static bool
ArgIsConst(FmgrInfo *flinfo, int argno)
{
	List	   *args;

	if (flinfo->fn_expr == NULL || !IsA(flinfo->fn_expr, FuncExpr))
		return false;
	args = ((FuncExpr *) flinfo->fn_expr)->args;
	return argno < list_length(args) && IsA(list_nth(args, argno), Const);
}

static void
CompileErrorContext(void *arg)
{
	errcontext("event pattern %d of event_patterns", *(int *) arg);
}

static RuleSetCache *
CachedRuleSet(FunctionCallInfo fcinfo)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	RuleSetCache *cache = (RuleSetCache *) flinfo->fn_extra;
	bool		from_const = ArgIsConst(flinfo, 0);
	ArrayType  *source;
	MemoryContext cxt;
	MemoryContext old;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			position = 0;
	CourierPattern **patterns;
	CourierRuleSet *set;
	ErrorContextCallback errcb;

	/* a constant array cannot change while this FmgrInfo lives */
	if (cache != NULL && cache->from_const && from_const)
		return cache;

	source = PG_GETARG_ARRAYTYPE_P(0);
	if (cache != NULL && VARSIZE(cache->source) == VARSIZE(source) &&
		memcmp(cache->source, source, VARSIZE(source)) == 0)
		return cache;

	if (ARR_NDIM(source) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("event_patterns must be a one-dimensional array")));
	deconstruct_array(source, JSONBOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("event_patterns must not contain nulls"),
					 errdetail("Element %d is null.", i + 1)));

	/* a failed build leaves this context to the end of the query */
	cxt = AllocSetContextCreate(flinfo->fn_mcxt, "courier rule set",
								ALLOCSET_DEFAULT_SIZES);
	patterns = MemoryContextAlloc(cxt, sizeof(CourierPattern *) * Max(n, 1));
	errcb.callback = CompileErrorContext;
	errcb.arg = &position;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		position = i + 1;
		patterns[i] = CourierPatternCompile(DatumGetJsonbP(elems[i]), cxt);
	}
	error_context_stack = errcb.previous;
	set = CourierRuleSetBuild(patterns, n, cxt);

	old = MemoryContextSwitchTo(cxt);
	if (cache == NULL)
		cache = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(RuleSetCache));
	else
		MemoryContextDelete(cache->cxt);
	cache->cxt = cxt;
	cache->source = palloc(VARSIZE(source));
	memcpy(cache->source, source, VARSIZE(source));
	cache->from_const = from_const;
	cache->set = set;
	cache->matches = palloc(sizeof(int) * Max(n, 1));
	flinfo->fn_extra = cache;
	MemoryContextSwitchTo(old);
	return cache;
}

/*
 * courier.match_event_patterns(event_patterns jsonb[], event jsonb,
 *								indexed boolean = true) returns int[]
 *
 * The positions (1-based, ascending) of the patterns the event matches.
 * The patterns are compiled and indexed once per call site and kept in
 * fn_extra while the array stays the same (a constant array is not even
 * compared again).  indexed => false matches them one after the other: the
 * same answer, for comparison.
 */
PG_FUNCTION_INFO_V1(courier_match_event_patterns);

Datum
courier_match_event_patterns(PG_FUNCTION_ARGS)
{
	RuleSetCache *cache;
	Jsonb	   *event;
	int		   *matches;
	Datum	   *positions;
	int			n;
	int			i;

	CourierArgNotNull(fcinfo, 0, "event_patterns");
	CourierArgNotNull(fcinfo, 1, "event");
	CourierArgNotNull(fcinfo, 2, "indexed");

	cache = CachedRuleSet(fcinfo);
	event = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event must be a JSON object"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(event) ? "scalar" : "array")));

	matches = cache->matches;
	n = PG_GETARG_BOOL(2) ? CourierRuleSetMatch(cache->set, event, matches)
		: CourierRuleSetMatchEach(cache->set, event, matches);
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT4OID));
	positions = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		positions[i] = Int32GetDatum(matches[i] + 1);
	PG_RETURN_ARRAYTYPE_P(construct_array(positions, n, INT4OID, sizeof(int32),
										  true, TYPALIGN_INT));
}
