/*-------------------------------------------------------------------------
 *
 * bus.c
 *	  Event buses: put_events() routes events by rule to targets.
 *
 * Vocabulary:
 *	  bus       a named router of events (courier.buses)
 *	  entry     one element of the array given to put_events(): source,
 *	            detail-type, detail, and optionally resources and time
 *	  event     an entry made whole by the bus: EventBridge's envelope with
 *	            version, id (a UUID), account (the database), region (the
 *	            setting courier.region) and time filled in
 *	  rule      an event pattern (pattern.c) on a bus, enabled or not
 *	  target    where a rule sends the events it matched: a queue, a topic,
 *	            another bus, a function, or a state machine (an execution
 *	            started with the event); with its input shaping
 *	            (bus_input.c)
 *	  delivery  one event on its way to one target
 *	  route     match an event against the bus's enabled rules and deliver it
 *	            to their targets; archive it when an archive wants it
 *
 * Routing is transactional: queue, topic and bus targets are delivered in
 * the caller's transaction, through the queue's own send path and the
 * topic's publish, so a rollback delivers nothing.  Function and state
 * machine targets are not called here: a delivery row goes into
 * courier.bus_deliveries, in the same transaction, and tick() makes the call
 * (or starts the execution) later in a subtransaction of its own
 * (bus_delivery.c), so a failing function never affects the producer or the
 * other targets.
 *
 * An entry that is invalid fails alone: put_events() checks every entry
 * (against its registered schema too, on a bus that requires schemas)
 * before routing any, reports the failures by position (AWS's error codes),
 * and routes the valid ones.  Only what is wrong with the call as a whole
 * (no such bus, not an array, too many entries) raises an error.
 *
 * A bus target forwards the event unchanged (same id, source, account) to
 * the other bus, whose rules and archives then see it.  Forwarding keeps
 * the chain of buses the event went through; a bus already on it is not
 * entered again (the delivery counts as a failed invocation), so no set of
 * rules can make an event loop.
 *
 * Compiled rules are cached per backend and bus, with the bus's version;
 * every change of a rule, target or archive sets a new version (a fresh
 * sequence value), as for topics.  From COURIER_BUS_INDEX_MIN enabled rules
 * on, they are matched through a rule set (ruleset.c).
 *
 * put_events() takes a shared object lock on each bus it routes through
 * until commit; drop_bus, delete_rule, put_target and remove_target take it
 * exclusively, so no delivery row is written for a target being removed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "bus.h"
#include "bus_input.h"
#include "clock.h"
#include "compat.h"
#include "context.h"
#include "grants.h"
#include "envelope.h"
#include "jsonb_build.h"
#include "pattern.h"
#include "pg_courier.h"
#include "plan.h"
#include "queue.h"
#include "queue_head.h"
#include "ruleset.h"
#include "schema.h"
#include "stats.h"
#include "topic.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(courier_lock_bus);
PG_FUNCTION_INFO_V1(courier_check_event_pattern);
PG_FUNCTION_INFO_V1(courier_put_events);
PG_FUNCTION_INFO_V1(courier_route_event);
PG_FUNCTION_INFO_V1(courier_forget_bus_stats);
PG_FUNCTION_INFO_V1(courier_rule_counts);
PG_FUNCTION_INFO_V1(courier_target_counts);

/* courier.region */
char	   *courier_region = NULL;

/* courier.max_rules_per_bus (put_rule reads it) */
int			courier_max_rules_per_bus = 300;

#define COURIER_BUS_NAME_MAX 256

/* EventBridge's PutEvents limits. */
#define COURIER_MAX_ENTRIES			10
#define COURIER_MAX_ENTRY_BYTES		(256 * 1024)

/* From this many enabled rules on, a bus matches them through a rule set. */
#define COURIER_BUS_INDEX_MIN 8

/*
 * A detail whose jsonb is smaller than this cannot have a JSON text over
 * the entry limit (a character takes at most 6 bytes of JSON text, \uXXXX),
 * so its text length is computed only above it.
 */
#define COURIER_DETAIL_EXACT_SIZE	(COURIER_MAX_ENTRY_BYTES / 6 - 1024)

typedef enum BusTargetKind
{
	TARGET_QUEUE,
	TARGET_TOPIC,
	TARGET_BUS,
	TARGET_FUNCTION,
	TARGET_STATE_MACHINE
} BusTargetKind;

typedef struct BusTarget
{
	int64		target_key;
	BusTargetKind kind;
	text	   *dest;			/* queue, topic or bus name; NULL for functions */
	text	   *target_id;
	CourierTargetInput *input;	/* NULL: the event as it is */
} BusTarget;

typedef struct BusRule
{
	int64		rule_id;
	text	   *rule_name;
	char	   *rule_name_c;
	char	   *rule_arn;
	CourierPattern *pattern;
	int			ntargets;
	BusTarget  *targets;
} BusRule;

typedef struct BusArchive
{
	int64		archive_id;
	CourierPattern *pattern;	/* NULL: every event */
} BusArchive;

/*
 * A bus's enabled rules with their targets, and its archives, valid for one
 * version of the bus.  Everything a version needs lives in cxt.
 */
typedef struct BusCache
{
	char		bus_name[COURIER_BUS_NAME_MAX + 1]; /* hash key */
	bool		loaded;
	int64		version;
	bool		require_schema; /* as of this call, whatever the version */
	MemoryContext cxt;
	int			nrules;
	BusRule    *rules;
	CourierRuleSet *set;		/* when nrules >= COURIER_BUS_INDEX_MIN */
	int			narchives;
	BusArchive *archives;
} BusCache;

static HTAB *bus_cache = NULL;

static SPIPlanPtr version_plan = NULL;
static SPIPlanPtr rules_plan = NULL;
static SPIPlanPtr archives_plan = NULL;
static SPIPlanPtr delivery_plan = NULL;
static SPIPlanPtr archive_event_plan = NULL;

/* What one event's routing needs besides the bus. */
typedef struct RouteContext
{
	const char *replay_name;	/* NULL unless replayed */
	ArrayType  *rules;			/* replay: only these rules; NULL: all */
	bool		dry_run;
	TimestampTz now;
	TimestampTz ingested_at;
	List	   *path;			/* names (char *) of the buses entered */
} RouteContext;

/* The fields of an event that deliveries carry as headers. */
typedef struct EventFacts
{
	char	   *id;
	char	   *source;
	char	   *detail_type;
	char	   *time;			/* as the event has it: UTC, to the second */
	TimestampTz event_time;		/* with its fraction, for archives */
	TimestampTz occurred_at;	/* time, as a timestamp */
	int32		schema_version; /* the entry's schema-version */
	bool		has_schema_version;
	Jsonb	   *detail;			/* put_events: the entry's detail */
} EventFacts;

/* Did this transaction write deliveries for the worker to make? */
static bool wake_at_commit = false;
static bool xact_callback_registered = false;

static int	RouteEvent(const char *bus_name, BusCache *bus, Jsonb *event,
					   const EventFacts *facts, RouteContext *ctx);
static BusCache *EnterBus(const char *bus_name);

/* The lock that orders put_events() against changes of a bus. */
static void
LockBus(const char *bus_name, LOCKMODE mode)
{
	Oid			nsp = get_namespace_oid("courier", false);
	Oid			relid = get_relname_relid("buses", nsp);
	uint32		key;

	if (!OidIsValid(relid))
		elog(ERROR, "table courier.buses is missing");
	key = DatumGetUInt32(hash_any((const unsigned char *) bus_name, strlen(bus_name)));
	LockDatabaseObject(relid, (Oid) key, 0, mode);
}

/* courier._lock_bus(bus_name text, exclusive boolean) */
Datum
courier_lock_bus(PG_FUNCTION_ARGS)
{
	LockBus(text_to_cstring(PG_GETARG_TEXT_PP(0)),
			PG_GETARG_BOOL(1) ? AccessExclusiveLock : AccessShareLock);
	PG_RETURN_VOID();
}

/* courier._check_event_pattern(event_pattern jsonb): raises 22023 */
Datum
courier_check_event_pattern(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "pg_courier event pattern check",
											  ALLOCSET_SMALL_SIZES);

	(void) CourierPatternCompile(PG_GETARG_JSONB_P(0), cxt);
	MemoryContextDelete(cxt);
	PG_RETURN_VOID();
}

static pg_attribute_noreturn() void
NoSuchBus(const char *bus_name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("bus \"%s\" does not exist", bus_name),
			 errhint("Create it with courier.create_bus(); courier.list_buses() shows the buses there are.")));
}

/* The bus's current version and require_schema, or NoSuchBus. */
static int64
BusVersion(const char *bus_name, bool *require_schema)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	SPIPlanPtr	plan;

	plan = CourierPlan(&version_plan,
					   "SELECT b.version, b.require_schema FROM courier.buses AS b"
					   " WHERE b.bus_name OPERATOR(pg_catalog.=) $1",
					   1, argtypes);
	values[0] = CStringGetTextDatum(bus_name);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "bus lookup failed");
	if (SPI_processed == 0)
		NoSuchBus(bus_name);
	*require_schema = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												 2, &isnull));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static text *
CopyTextIn(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	MemoryContext old;
	text	   *t;

	if (isnull)
		return NULL;
	old = MemoryContextSwitchTo(cxt);
	t = DatumGetTextPCopy(d);
	MemoryContextSwitchTo(old);
	return t;
}

static BusTargetKind
TargetKind(const char *kind)
{
	if (strcmp(kind, "queue") == 0)
		return TARGET_QUEUE;
	if (strcmp(kind, "topic") == 0)
		return TARGET_TOPIC;
	if (strcmp(kind, "bus") == 0)
		return TARGET_BUS;
	if (strcmp(kind, "function") == 0)
		return TARGET_FUNCTION;
	if (strcmp(kind, "state_machine") == 0)
		return TARGET_STATE_MACHINE;
	elog(ERROR, "unknown bus target kind \"%s\"", kind);
}

/* Read and compile the bus's enabled rules, targets and archives into cxt. */
static void
LoadBus(const char *bus_name, BusCache *entry)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPIPlanPtr	plan;
	MemoryContext cxt = entry->cxt;
	uint64		i;
	int			nrows;

	values[0] = CStringGetTextDatum(bus_name);

	/*
	 * One row per enabled rule and target (rules without targets too).  Not
	 * read-only: a fresh snapshot, taken after the bus lock was granted, so a
	 * change that committed while we waited for it is seen.
	 */
	plan = CourierPlan(&rules_plan,
					   "SELECT r.rule_id, r.rule_name, r.event_pattern, t.target_key, t.kind,"
					   "       COALESCE(t.queue_name, t.topic_name, t.target_bus),"
					   "       t.target_id, t.input, t.input_path, t.input_transformer"
					   "  FROM courier.rules AS r"
					   "  LEFT JOIN courier.targets AS t"
					   "    ON t.bus_name OPERATOR(pg_catalog.=) r.bus_name"
					   "   AND t.rule_name OPERATOR(pg_catalog.=) r.rule_name"
					   " WHERE r.bus_name OPERATOR(pg_catalog.=) $1 AND r.enabled"
					   " ORDER BY r.rule_name, t.target_id",
					   1, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "bus rules lookup failed");
	nrows = (int) SPI_processed;
	entry->rules = MemoryContextAllocZero(cxt, sizeof(BusRule) * Max(nrows, 1));
	entry->nrules = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		rule_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		BusRule    *rule;

		CHECK_FOR_INTERRUPTS();
		if (entry->nrules == 0 || entry->rules[entry->nrules - 1].rule_id != rule_id)
		{
			rule = &entry->rules[entry->nrules++];
			rule->rule_id = rule_id;
			rule->rule_name = CopyTextIn(tup, desc, 2, cxt);
			rule->rule_name_c = MemoryContextStrdup(cxt, text_to_cstring(rule->rule_name));
			rule->rule_arn = MemoryContextStrdup(cxt, CourierRuleArn(bus_name, rule->rule_name_c));
			rule->pattern = CourierPatternCompile(DatumGetJsonbP(SPI_getbinval(tup, desc, 3, &isnull)),
												  cxt);
			/* at most 5 targets per rule (put_target) */
			rule->targets = MemoryContextAllocZero(cxt, sizeof(BusTarget) * 5);
		}
		else
			rule = &entry->rules[entry->nrules - 1];

		(void) SPI_getbinval(tup, desc, 4, &isnull);
		if (!isnull && rule->ntargets < 5)
		{
			BusTarget  *t = &rule->targets[rule->ntargets++];
			Datum		d;
			bool		n1,
						n2,
						n3;
			Datum		input,
						path,
						transformer;

			t->target_key = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
			d = SPI_getbinval(tup, desc, 5, &isnull);
			t->kind = TargetKind(TextDatumGetCString(d));
			t->dest = CopyTextIn(tup, desc, 6, cxt);
			t->target_id = CopyTextIn(tup, desc, 7, cxt);
			input = SPI_getbinval(tup, desc, 8, &n1);
			path = SPI_getbinval(tup, desc, 9, &n2);
			transformer = SPI_getbinval(tup, desc, 10, &n3);
			t->input = CourierTargetInputCompile(n1 ? NULL : DatumGetJsonbP(input),
												 n2 ? NULL : DatumGetTextPP(path),
												 n3 ? NULL : DatumGetJsonbP(transformer),
												 cxt);
		}
	}

	if (entry->nrules >= COURIER_BUS_INDEX_MIN)
	{
		CourierPattern **patterns = palloc(sizeof(CourierPattern *) * entry->nrules);
		int			r;

		for (r = 0; r < entry->nrules; r++)
			patterns[r] = entry->rules[r].pattern;
		entry->set = CourierRuleSetBuild(patterns, entry->nrules, cxt);
		pfree(patterns);
	}

	plan = CourierPlan(&archives_plan,
					   "SELECT a.archive_id, a.event_pattern FROM courier.archives AS a"
					   " WHERE a.bus_name OPERATOR(pg_catalog.=) $1 ORDER BY a.archive_id",
					   1, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "bus archives lookup failed");
	entry->narchives = (int) SPI_processed;
	entry->archives = MemoryContextAllocZero(cxt, sizeof(BusArchive) * Max(entry->narchives, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		pattern;

		entry->archives[i].archive_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		pattern = SPI_getbinval(tup, desc, 2, &isnull);
		if (!isnull)
			entry->archives[i].pattern = CourierPatternCompile(DatumGetJsonbP(pattern), cxt);
	}
}

/*
 * The bus's compiled rules for its current version.  Compiled afresh only
 * when the version changed since this backend last looked.
 */
static BusCache *
BusRules(const char *bus_name)
{
	char		key[COURIER_BUS_NAME_MAX + 1];
	BusCache   *entry;
	bool		found;
	int64		version;
	bool		require_schema;
	MemoryContext cxt;

	if (strlen(bus_name) > COURIER_BUS_NAME_MAX)
		NoSuchBus(bus_name);
	version = BusVersion(bus_name, &require_schema);

	if (bus_cache == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(key);
		info.entrysize = sizeof(BusCache);
		bus_cache = hash_create("pg_courier bus cache", 16, &info, HASH_ELEM | HASH_STRINGS);
	}
	memset(key, 0, sizeof(key));
	strlcpy(key, bus_name, sizeof(key));
	entry = hash_search(bus_cache, key, HASH_ENTER, &found);
	if (!found)
	{
		entry->loaded = false;
		entry->cxt = NULL;
	}
	entry->require_schema = require_schema;
	if (entry->loaded && entry->version == version)
		return entry;

	/* compile into a new context; the old one goes only once that worked */
	cxt = AllocSetContextCreate(CacheMemoryContext, "pg_courier bus rules",
								ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		BusCache	fresh;

		memset(&fresh, 0, sizeof(fresh));
		fresh.cxt = cxt;
		LoadBus(bus_name, &fresh);
		if (entry->cxt != NULL)
			MemoryContextDelete(entry->cxt);
		entry->cxt = cxt;
		entry->nrules = fresh.nrules;
		entry->rules = fresh.rules;
		entry->set = fresh.set;
		entry->narchives = fresh.narchives;
		entry->archives = fresh.archives;
		entry->version = version;
		entry->loaded = true;
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return entry;
}

/*
 * Lock the bus for routing and get its compiled rules.  A call that routes
 * many events through one bus does this once: the lock is held to the end
 * of the transaction, and nothing the routing does changes the version.
 */
static BusCache *
EnterBus(const char *bus_name)
{
	LockBus(bus_name, AccessShareLock);
	return BusRules(bus_name);
}

/* Is the rule named in the replay's list of rules (NULL: every rule)? */
static bool
RuleChosen(const RouteContext *ctx, const char *rule_name)
{
	Datum	   *names;
	bool	   *nulls;
	int			n,
				i;

	if (ctx->rules == NULL)
		return true;
	deconstruct_array(ctx->rules, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i] && strcmp(TextDatumGetCString(names[i]), rule_name) == 0)
			return true;
	return false;
}

/*
 * The headers of a message a queue or topic target receives.  With
 * envelope, also the envelope keys (for publish(), which reads them from the
 * headers); a queue delivery gets those straight into its envelope instead
 * (QueueEnvelope), without a round trip through jsonb.
 */
static Jsonb *
DeliveryHeaders(const char *bus_name, const BusRule *rule, const EventFacts *facts,
				const RouteContext *ctx, bool envelope)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

#define PUSH_PAIR(k, v) \
	do { \
		JsonbValue	jk, jv; \
		jk.type = jbvString; jk.val.string.val = (char *) (k); jk.val.string.len = strlen(k); \
		jv.type = jbvString; jv.val.string.val = (char *) (v); jv.val.string.len = strlen(v); \
		pushJsonbValue(&state, WJB_KEY, &jk); \
		pushJsonbValue(&state, WJB_VALUE, &jv); \
	} while (0)

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (envelope)
	{
		/* envelope keys (envelope.c): consumers deduplicate on the event id */
		if (pg_mbstrlen(facts->detail_type) <= COURIER_MAX_ENVELOPE_TEXT)
			PUSH_PAIR("type", facts->detail_type);
		PUSH_PAIR("idempotency_key", facts->id);
		PUSH_PAIR("occurred_at", facts->time);
		if (facts->has_schema_version)
		{
			char		version[16];

			snprintf(version, sizeof(version), "%d", facts->schema_version);
			PUSH_PAIR("schema_version", version);
		}
	}
	PUSH_PAIR("event_source", facts->source);
	PUSH_PAIR("bus", bus_name);
	PUSH_PAIR("rule", rule->rule_name_c);
	if (ctx->replay_name != NULL)
		PUSH_PAIR("replay_name", ctx->replay_name);
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
#undef PUSH_PAIR
	return JsonbValueToJsonb(res);
}

/* The envelope of a queue delivery: what DeliveryHeaders' envelope keys say. */
static void
QueueEnvelope(CourierEnvelope *env, const char *bus_name, const BusRule *rule,
			  const EventFacts *facts, const RouteContext *ctx)
{
	memset(env, 0, sizeof(*env));
	if (pg_mbstrlen(facts->detail_type) <= COURIER_MAX_ENVELOPE_TEXT)
		env->text_fields[ENV_TYPE] = cstring_to_text(facts->detail_type);
	env->text_fields[ENV_IDEMPOTENCY_KEY] = cstring_to_text(facts->id);
	env->occurred_at = facts->occurred_at;
	env->has_occurred_at = true;
	env->schema_version = facts->schema_version;
	env->has_schema_version = facts->has_schema_version;
	env->headers = DeliveryHeaders(bus_name, rule, facts, ctx, false);
	/* put_events() in a transaction with a context: the delivery inherits it */
	CourierContextApply(env);
}

static int64
JsonbBytes(Jsonb *j)
{
	return j == NULL ? 0 : VARSIZE(j) - VARHDRSZ;
}

static void
BusXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	if (!wake_at_commit)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			CourierWakeWorker();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's deliveries wait for the next tick */
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/* Write a delivery row for tick() to call a function target with. */
static void
AddDelivery(const char *bus_name, const BusRule *rule, const BusTarget *target,
			Jsonb *event, Jsonb *input, const RouteContext *ctx)
{
	Oid			argtypes[11] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID,
	JSONBOID, JSONBOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		values[11];
	char		nulls[11] = "           ";
	SPIPlanPtr	plan;
	text	   *correlation = courier_context_active ? CourierContextCorrelation() : NULL;
	text	   *causation = courier_context_active ? CourierContextCausation() : NULL;

	plan = CourierPlan(&delivery_plan,
					   "INSERT INTO courier.bus_deliveries"
					   " (delivery_id, bus_name, rule_name, target_id, target_key, ingested_at,"
					   "  next_attempt_at, event, input, replay_name, correlation_id, causation_id)"
					   " VALUES (pg_catalog.nextval('courier.bus_delivery_id_seq'::pg_catalog.regclass),"
					   "         $1, $2, $3, $4, $5, $9, $6, $7, $8, $10, $11)",
					   11, argtypes);
	values[0] = CStringGetTextDatum(bus_name);
	values[1] = PointerGetDatum(rule->rule_name);
	values[2] = PointerGetDatum(target->target_id);
	values[3] = Int64GetDatum(target->target_key);
	values[4] = TimestampTzGetDatum(ctx->ingested_at);
	values[5] = JsonbPGetDatum(event);
	values[6] = JsonbPGetDatum(input);
	if (ctx->replay_name != NULL)
		values[7] = CStringGetTextDatum(ctx->replay_name);
	else
		nulls[7] = 'n';
	values[8] = TimestampTzGetDatum(ctx->now);
	/* the transaction's correlation context (context.c) */
	values[9] = PointerGetDatum(correlation);
	if (correlation == NULL)
		nulls[9] = 'n';
	values[10] = PointerGetDatum(causation);
	if (causation == NULL)
		nulls[10] = 'n';
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "courier: bus delivery insert failed");

	/* the worker makes it as soon as this commits */
	if (!xact_callback_registered)
	{
		RegisterXactCallback(BusXactCallback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

static void
ArchiveEvent(int64 archive_id, Jsonb *event, const EventFacts *facts, const RouteContext *ctx)
{
	Oid			argtypes[5] = {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, UUIDOID, JSONBOID};
	Datum		values[5];
	SPIPlanPtr	plan;

	plan = CourierPlan(&archive_event_plan,
					   "SELECT courier._archive_event($1, $2, $3, $4, $5)",
					   5, argtypes);
	values[0] = Int64GetDatum(archive_id);
	values[1] = TimestampTzGetDatum(ctx->ingested_at);
	values[2] = TimestampTzGetDatum(facts->event_time);
	values[3] = DirectFunctionCall1(uuid_in, CStringGetDatum(facts->id));
	values[4] = JsonbPGetDatum(event);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier: archiving an event failed");
}

/* Deliver an event to one target; returns false when a loop stopped it. */
static bool
Deliver(const char *bus_name, const BusRule *rule, const BusTarget *target,
		Jsonb *event, const EventFacts *facts, RouteContext *ctx)
{
	CourierInputContext ictx;
	Jsonb	   *input;

	ictx.rule_name = rule->rule_name_c;
	ictx.rule_arn = rule->rule_arn;
	ictx.ingestion_time = ctx->ingested_at;
	input = target->input ? CourierTargetInputApply(target->input, event, &ictx) : event;

	switch (target->kind)
	{
		case TARGET_QUEUE:
			{
				CourierNewMessage msg;

				memset(&msg, 0, sizeof(msg));
				QueueEnvelope(&msg.env, bus_name, rule, facts, ctx);
				msg.payload = input;
				msg.delay_usec = -1;
				(void) CourierSendMessage(target->dest, &msg,
										  JsonbBytes(input) + JsonbBytes(msg.env.headers),
										  false, ctx->now);
				break;
			}
		case TARGET_TOPIC:
			(void) CourierPublish(target->dest, input,
								  DeliveryHeaders(bus_name, rule, facts, ctx, true), NULL, NULL);
			break;
		case TARGET_BUS:
			{
				char	   *dest = text_to_cstring(target->dest);
				ListCell   *lc;

				foreach(lc, ctx->path)
				{
					if (strcmp((char *) lfirst(lc), dest) == 0)
						return false;
				}
				check_stack_depth();
				ctx->path = lappend(ctx->path, dest);
				(void) RouteEvent(dest, NULL, event, facts, ctx);
				ctx->path = list_delete_last(ctx->path);
				break;
			}
		case TARGET_FUNCTION:
		case TARGET_STATE_MACHINE:
			AddDelivery(bus_name, rule, target, event, input, ctx);
			break;
	}
	return true;
}

/*
 * Route one event through a bus: deliver it to the targets of every enabled
 * rule it matches (of the chosen rules, for a replay), and archive it.
 * Returns how many deliveries were made (would be, for a dry run).  bus is
 * what EnterBus returned for bus_name in this call, or NULL to enter it here.
 */
static int
RouteEvent(const char *bus_name, BusCache *bus, Jsonb *event, const EventFacts *facts,
		   RouteContext *ctx)
{
	int		   *matches;
	int			nmatches;
	int			deliveries = 0;
	int			i,
				j;

	if (bus == NULL)
		bus = EnterBus(bus_name);
	if (ctx->path == NIL)
		ctx->path = list_make1(pstrdup(bus_name));

	matches = palloc(sizeof(int) * Max(bus->nrules, 1));
	if (bus->set != NULL)
		nmatches = CourierRuleSetMatch(bus->set, event, matches);
	else
	{
		nmatches = 0;
		for (i = 0; i < bus->nrules; i++)
			if (CourierPatternMatch(bus->rules[i].pattern, event))
				matches[nmatches++] = i;
	}

	/*
	 * Nothing below changes this bus's version (a bus target routes into
	 * another bus, whose cache entry is its own), so bus->rules stays valid.
	 */
	for (i = 0; i < nmatches; i++)
	{
		const BusRule *rule = &bus->rules[matches[i]];

		CHECK_FOR_INTERRUPTS();
		if (!RuleChosen(ctx, rule->rule_name_c))
			continue;
		if (!ctx->dry_run)
			CourierStatsAdd(COURIER_STATS_RULE, rule->rule_id, COURIER_RULE_MATCHED, 1);
		for (j = 0; j < rule->ntargets; j++)
		{
			const BusTarget *target = &rule->targets[j];

			deliveries++;
			if (ctx->dry_run)
				continue;
			if (Deliver(bus_name, rule, target, event, facts, ctx))
			{
				/* asynchronous targets count their invocations when made */
				if (target->kind != TARGET_FUNCTION && target->kind != TARGET_STATE_MACHINE)
					CourierStatsAdd(COURIER_STATS_TARGET, target->target_key,
									COURIER_TARGET_INVOCATIONS, 1);
			}
			else
				CourierStatsAdd(COURIER_STATS_TARGET, target->target_key,
								COURIER_TARGET_FAILED, 1);
		}
	}
	pfree(matches);

	/* replayed events are not archived again */
	if (ctx->replay_name == NULL && !ctx->dry_run)
	{
		for (i = 0; i < bus->narchives; i++)
		{
			const BusArchive *archive = &bus->archives[i];

			if (archive->pattern == NULL || CourierPatternMatch(archive->pattern, event))
				ArchiveEvent(archive->archive_id, event, facts, ctx);
		}
	}
	return deliveries;
}

/*----------
 * Entries.
 *----------
 */

/* Why an entry failed: AWS's error code and a message. */
typedef struct EntryError
{
	const char *code;
	char	   *message;
} EntryError;

static bool
EntryFail(EntryError *err, const char *code, const char *fmt,...) pg_attribute_printf(3, 4);

static bool
EntryFail(EntryError *err, const char *code, const char *fmt,...)
{
	va_list		args;
	char		buf[512];

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	err->code = code;
	err->message = pstrdup(buf);
	return false;
}

static char *
JsonbStringValue(const JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Parse an ISO 8601 timestamp: YYYY-MM-DDTHH:MM:SS, optional fraction, and
 * Z or +HH:MM / -HH:MM (no offset: UTC).  Never raises: an entry's bad time
 * must fail that entry alone.
 */
static bool
ParseEventTime(const char *s, TimestampTz *result)
{
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			tz = 0;
	const char *p = s;
	int			n;

#define DIGITS(count, dst) \
	do { \
		int _v = 0, _k; \
		for (_k = 0; _k < (count); _k++, p++) { \
			if (*p < '0' || *p > '9') return false; \
			_v = _v * 10 + (*p - '0'); \
		} \
		(dst) = _v; \
	} while (0)

	memset(&tm, 0, sizeof(tm));
	DIGITS(4, tm.tm_year);
	if (*p++ != '-')
		return false;
	DIGITS(2, tm.tm_mon);
	if (*p++ != '-')
		return false;
	DIGITS(2, tm.tm_mday);
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	DIGITS(2, tm.tm_hour);
	if (*p++ != ':')
		return false;
	DIGITS(2, tm.tm_min);
	if (*p++ != ':')
		return false;
	DIGITS(2, tm.tm_sec);
	if (*p == '.')
	{
		int			scale = 100000;

		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (n = 0; *p >= '0' && *p <= '9'; p++, n++)
		{
			if (scale > 0)
				fsec += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			sign = (*p == '-') ? -1 : 1;
		int			hh,
					mm;

		p++;
		DIGITS(2, hh);
		if (*p == ':')
			p++;
		DIGITS(2, mm);
		if (hh > 23 || mm > 59)
			return false;
		/* PostgreSQL's tz is seconds west of UTC */
		tz = -sign * (hh * 3600 + mm * 60);
	}
	if (*p != '\0')
		return false;
#undef DIGITS

	if (tm.tm_year < 1 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
		tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1] ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return false;
	return tm2timestamp(&tm, fsec, &tz, result) == 0 && !TIMESTAMP_NOT_FINITE(*result);
}

/* yyyy-MM-ddTHH:mm:ssZ, in UTC, as EventBridge writes time. */
static char *
FormatEventTime(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static char *
NewEventId(void)
{
	pg_uuid_t	uuid;

	if (!pg_strong_random(uuid.data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random event id")));
	uuid.data[6] = (uuid.data[6] & 0x0f) | 0x40;	/* version 4 */
	uuid.data[8] = (uuid.data[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&uuid)));
}

static Jsonb *
ContainerJsonb(const JsonbValue *v)
{
	Assert(v->type == jbvBinary);
	return JsonbValueToJsonb((JsonbValue *) v);
}

/* An entry's schema-version: a positive integer (a number or digits). */
static bool
EntrySchemaVersion(const JsonbValue *v, int32 *result)
{
	char	   *s;
	char	   *end;
	long		n;

	if (v->type == jbvNumeric)
		s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvString)
		s = JsonbStringValue(v);
	else
		return false;
	if (!isdigit((unsigned char) s[0]))
		return false;
	errno = 0;
	n = strtol(s, &end, 10);
	/* a number written with a fraction of zeros (2.0) is integral, as in headers */
	if (v->type == jbvNumeric && *end == '.')
	{
		end++;
		while (*end == '0')
			end++;
	}
	if (*end != '\0' || errno != 0 || n < 1 || n > PG_INT32_MAX)
		return false;
	*result = (int32) n;
	return true;
}

/*
 * Check one entry and make it an event.  false (with err filled in) when
 * the entry is invalid; nothing is raised for a bad entry.
 */
static bool
BuildEvent(JsonbValue *entry, const char *account, TimestampTz now,
		   Jsonb **event, EventFacts *facts, EntryError *err)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	char	   *source = NULL;
	char	   *detail_type = NULL;
	Jsonb	   *detail = NULL;
	Jsonb	   *resources = NULL;
	char	   *time_text = NULL;
	int64		size = 0;
	TimestampTz event_time = now;
	JsonbParseState *state = NULL;

	if (entry->type != jbvBinary || !JsonContainerIsObject(entry->val.binary.data))
		return EntryFail(err, "InvalidArgument", "an entry must be a JSON object");

	it = JsonbIteratorInit(entry->val.binary.data);
	tok = JsonbIteratorNext(&it, &v, true);
	Assert(tok == WJB_BEGIN_OBJECT);
	while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
	{
		char	   *key = pnstrdup(k.val.string.val, k.val.string.len);

		tok = JsonbIteratorNext(&it, &v, true);
		if (strcmp(key, "source") == 0)
		{
			if (v.type != jbvString || v.val.string.len == 0)
				return EntryFail(err, "InvalidArgument",
								 "Parameter source is not valid. Reason: source must be a non-empty string.");
			source = JsonbStringValue(&v);
			size += v.val.string.len;
		}
		else if (strcmp(key, "detail-type") == 0)
		{
			if (v.type != jbvString || v.val.string.len == 0)
				return EntryFail(err, "InvalidArgument",
								 "Parameter detail-type is not valid. Reason: detail-type must be a non-empty string.");
			detail_type = JsonbStringValue(&v);
			size += v.val.string.len;
		}
		else if (strcmp(key, "detail") == 0)
		{
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				return EntryFail(err, "MalformedDetail", "Detail is malformed. Reason: detail must be a JSON object.");
			detail = ContainerJsonb(&v);
		}
		else if (strcmp(key, "resources") == 0)
		{
			JsonbIterator *rit;
			JsonbValue	r;
			JsonbIteratorToken rtok;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				return EntryFail(err, "InvalidArgument",
								 "Parameter resources is not valid. Reason: resources must be an array of strings.");
			rit = JsonbIteratorInit(v.val.binary.data);
			while ((rtok = JsonbIteratorNext(&rit, &r, true)) != WJB_DONE)
			{
				if (rtok != WJB_ELEM)
					continue;
				if (r.type != jbvString)
					return EntryFail(err, "InvalidArgument",
									 "Parameter resources is not valid. Reason: resources must be an array of strings.");
				size += r.val.string.len;
			}
			resources = ContainerJsonb(&v);
		}
		else if (strcmp(key, "time") == 0)
		{
			if (v.type != jbvString)
				return EntryFail(err, "InvalidArgument",
								 "Parameter time is not valid. Reason: time must be an ISO 8601 timestamp string.");
			time_text = JsonbStringValue(&v);
			if (!ParseEventTime(time_text, &event_time))
				return EntryFail(err, "InvalidArgument",
								 "Parameter time is not valid. Reason: \"%s\" is not an ISO 8601 timestamp.",
								 time_text);
			size += 14;
		}
		else if (strcmp(key, "schema-version") == 0)
		{
			if (!EntrySchemaVersion(&v, &facts->schema_version))
				return EntryFail(err, "InvalidArgument",
								 "Parameter schema-version is not valid. Reason: schema-version must be a positive integer.");
			facts->has_schema_version = true;
			size += 10;
		}
		else
			return EntryFail(err, "InvalidArgument",
							 "Unknown field \"%s\". Reason: an entry has source, detail-type, detail, resources and time (and schema-version).",
							 key);
	}

	if (source == NULL)
		return EntryFail(err, "InvalidArgument", "Parameter source is not valid. Reason: source is missing.");
	if (detail_type == NULL)
		return EntryFail(err, "InvalidArgument", "Parameter detail-type is not valid. Reason: detail-type is missing.");
	if (detail == NULL)
		return EntryFail(err, "InvalidArgument", "Parameter detail is not valid. Reason: detail is missing.");
	if (strncmp(source, "aws.", 4) == 0)
		return EntryFail(err, "NotAuthorizedForSourceException",
						 "Not authorized for the source \"%s\": sources starting with aws. are reserved.", source);

	/* AWS counts the UTF-8 bytes of the detail's JSON text */
	if (VARSIZE(detail) > COURIER_DETAIL_EXACT_SIZE)
		size += strlen(JsonbToCString(NULL, &detail->root, VARSIZE(detail)));
	else
		size += VARSIZE(detail);	/* an upper bound small enough */
	if (size > COURIER_MAX_ENTRY_BYTES)
		return EntryFail(err, "EntryTooLarge",
						 "The entry has %lld bytes; an entry has at most %d (source, detail-type, detail and resources).",
						 (long long) size, COURIER_MAX_ENTRY_BYTES);

	facts->id = NewEventId();
	facts->detail = detail;
	facts->source = source;
	facts->detail_type = detail_type;
	facts->event_time = event_time;
	facts->time = FormatEventTime(event_time);
	(void) ParseEventTime(facts->time, &facts->occurred_at);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	CourierPushText(&state, "version", "0");
	CourierPushText(&state, "id", facts->id);
	CourierPushText(&state, "detail-type", detail_type);
	CourierPushText(&state, "source", source);
	CourierPushText(&state, "account", account);
	CourierPushText(&state, "time", facts->time);
	CourierPushText(&state, "region", courier_region ? courier_region : "local");
	if (resources != NULL)
		CourierPushJsonb(&state, "resources", resources);
	else
	{
		JsonbValue	key;

		key.type = jbvString;
		key.val.string.val = "resources";
		key.val.string.len = 9;
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	CourierPushJsonb(&state, "detail", detail);
	if (facts->has_schema_version)
	{
		JsonbValue	k,
					n;

		k.type = jbvString;
		k.val.string.val = "schema-version";
		k.val.string.len = 14;
		n.type = jbvNumeric;
		n.val.numeric = DatumGetNumeric(DirectFunctionCall1(int4_numeric,
															Int32GetDatum(facts->schema_version)));
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &n);
	}
	*event = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	return true;
}

/* A string field of a whole event, or NULL. */
static char *
EventField(Jsonb *event, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&event->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return JsonbStringValue(v);
}

/*
 * courier.put_events(bus_name text, events jsonb)
 *		RETURNS TABLE (event_id uuid, error text, error_code text)
 */
Datum
courier_put_events(PG_FUNCTION_ARGS)
{
	char	   *bus_name;
	Jsonb	   *events;
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			nentries;
	int			i;
	char	   *account;
	TimestampTz now;
	Jsonb	  **built;
	EventFacts *facts;
	EntryError *errors;
	BusCache   *bus;
	CourierAccess acc;

	CourierArgNotNull(fcinfo, 0, "bus_name");
	CourierArgNotNull(fcinfo, 1, "events");
	bus_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	events = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(events) || JB_ROOT_IS_SCALAR(events))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("events must be a JSON array of entries"),
				 errhint("Example: [{\"source\": \"shop\", \"detail-type\": \"OrderPlaced\", \"detail\": {}}].")));
	nentries = JB_ROOT_COUNT(events);
	if (nentries < 1 || nentries > COURIER_MAX_ENTRIES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("events must have 1 to %d entries", COURIER_MAX_ENTRIES),
				 errdetail("The array given has %d.", nentries),
				 errhint("Split larger batches into several calls; one transaction may hold many.")));

	tupstore = CourierMaterialize(fcinfo, &tupdesc);
	account = get_database_name(MyDatabaseId);
	now = CourierNow();

	/* every entry is checked before any is routed */
	built = palloc0(sizeof(Jsonb *) * nentries);
	facts = palloc0(sizeof(EventFacts) * nentries);
	errors = palloc0(sizeof(EntryError) * nentries);
	it = JsonbIteratorInit(&events->root);
	i = 0;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		CHECK_FOR_INTERRUPTS();
		(void) BuildEvent(&v, account, now, &built[i], &facts[i], &errors[i]);
		i++;
	}

	CourierAuthorize("put_events", "bus", bus_name, &acc);
	CourierAccessBegin(&acc);
	SPI_connect();
	bus = EnterBus(bus_name);
	/* an entry that does not match its schema fails alone, like a malformed one */
	if (bus->require_schema)
	{
		CourierSchemaMemo memo;

		memset(&memo, 0, sizeof(memo));
		for (i = 0; i < nentries; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (built[i] != NULL &&
				!CourierSchemaCheckEntry(bus_name, facts[i].detail_type, facts[i].schema_version,
										 facts[i].has_schema_version, facts[i].detail,
										 &errors[i].code, &errors[i].message, &memo))
				built[i] = NULL;
		}
	}
	now = CourierWriteBegin();
	for (i = 0; i < nentries; i++)
	{
		RouteContext ctx;

		if (built[i] == NULL)
			continue;
		memset(&ctx, 0, sizeof(ctx));
		ctx.now = now;
		ctx.ingested_at = now;
		(void) RouteEvent(bus_name, bus, built[i], &facts[i], &ctx);
	}
	CourierWriteEnd();
	SPI_finish();
	CourierAccessEnd(&acc);

	for (i = 0; i < nentries; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (built[i] != NULL)
		{
			values[0] = DirectFunctionCall1(uuid_in, CStringGetDatum(facts[i].id));
			nulls[1] = nulls[2] = true;
		}
		else
		{
			nulls[0] = true;
			values[1] = CStringGetTextDatum(errors[i].message);
			values[2] = CStringGetTextDatum(errors[i].code);
		}
		tuplestore_putvalues(tupstore, tupdesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * courier._route_event(bus_name text, event jsonb, replay_name text,
 *		rules text[], dry_run boolean) RETURNS integer
 */
Datum
courier_route_event(PG_FUNCTION_ARGS)
{
	char	   *bus_name;
	Jsonb	   *event;
	RouteContext ctx;
	EventFacts	facts;
	int			n;

	CourierArgNotNull(fcinfo, 0, "bus_name");
	CourierArgNotNull(fcinfo, 1, "event");
	CourierArgNotNull(fcinfo, 4, "dry_run");
	bus_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	event = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event must be a JSON object")));

	memset(&ctx, 0, sizeof(ctx));
	memset(&facts, 0, sizeof(facts));
	if (!PG_ARGISNULL(2))
	{
		JsonbParseState *state = NULL;
		JsonbValue *res;
		JsonbValue	k;

		char	   *replay_name = text_to_cstring(PG_GETARG_TEXT_PP(2));

		ctx.replay_name = replay_name;
		/* the event with "replay-name" set */
		res = pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		{
			JsonbIterator *it = JsonbIteratorInit(&event->root);
			JsonbValue	v;
			JsonbIteratorToken tok;

			tok = JsonbIteratorNext(&it, &v, true);
			while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
			{
				tok = JsonbIteratorNext(&it, &v, true);
				if (k.val.string.len == 11 && memcmp(k.val.string.val, "replay-name", 11) == 0)
					continue;
				pushJsonbValue(&state, WJB_KEY, &k);
				pushJsonbValue(&state, WJB_VALUE, &v);
			}
		}
		k.type = jbvString;
		k.val.string.val = "replay-name";
		k.val.string.len = 11;
		pushJsonbValue(&state, WJB_KEY, &k);
		{
			JsonbValue	nv;

			nv.type = jbvString;
			nv.val.string.val = replay_name;
			nv.val.string.len = strlen(replay_name);
			pushJsonbValue(&state, WJB_VALUE, &nv);
		}
		res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		event = JsonbValueToJsonb(res);
	}
	if (!PG_ARGISNULL(3))
		ctx.rules = PG_GETARG_ARRAYTYPE_P(3);
	ctx.dry_run = PG_GETARG_BOOL(4);

	facts.id = EventField(event, "id");
	facts.source = EventField(event, "source");
	facts.detail_type = EventField(event, "detail-type");
	facts.time = EventField(event, "time");
	if (facts.id == NULL || facts.source == NULL || facts.detail_type == NULL ||
		facts.time == NULL || !ParseEventTime(facts.time, &facts.event_time))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event is not a whole EventBridge event"),
				 errdetail("An event has string fields id, source, detail-type and time.")));

	facts.occurred_at = facts.event_time;
	{
		JsonbValue	k;
		JsonbValue *v;

		k.type = jbvString;
		k.val.string.val = "schema-version";
		k.val.string.len = 14;
		v = findJsonbValueFromContainer(&event->root, JB_FOBJECT, &k);
		if (v != NULL)
			facts.has_schema_version = EntrySchemaVersion(v, &facts.schema_version);
	}
	SPI_connect();
	ctx.now = CourierWriteBegin();
	ctx.ingested_at = ctx.now;
	n = RouteEvent(bus_name, NULL, event, &facts, &ctx);
	CourierWriteEnd();
	SPI_finish();
	PG_RETURN_INT32(n);
}

/*----------
 * Statistics.
 *----------
 */

/* courier._forget_bus_stats(kind text, id bigint) */
Datum
courier_forget_bus_stats(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strcmp(kind, "rule") == 0)
		CourierStatsForget(COURIER_STATS_RULE, PG_GETARG_INT64(1));
	else if (strcmp(kind, "target") == 0)
		CourierStatsForget(COURIER_STATS_TARGET, PG_GETARG_INT64(1));
	else
		elog(ERROR, "unknown bus statistics kind \"%s\"", kind);
	PG_RETURN_VOID();
}

/* courier._rule_counts(rule_id bigint, OUT matched bigint) */
Datum
courier_rule_counts(PG_FUNCTION_ARGS)
{
	uint64		counters[COURIER_STATS_NCOUNTERS];

	if (!CourierStatsRead(COURIER_STATS_RULE, PG_GETARG_INT64(0), counters))
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) counters[COURIER_RULE_MATCHED]);
}

/* courier._target_counts(target_key bigint, OUT invocations bigint, ...) */
Datum
courier_target_counts(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	uint64		counters[COURIER_STATS_NCOUNTERS];
	Datum		values[COURIER_STATS_NCOUNTERS];
	bool		nulls[COURIER_STATS_NCOUNTERS];
	bool		have;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	have = CourierStatsRead(COURIER_STATS_TARGET, PG_GETARG_INT64(0), counters);
	for (i = 0; i < COURIER_STATS_NCOUNTERS; i++)
	{
		values[i] = Int64GetDatum((int64) counters[i]);
		nulls[i] = !have;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
