/*-------------------------------------------------------------------------
 *
 * topic.c
 *	  Topics: publish() fans a message out to the subscribed queues.
 *
 * Vocabulary:
 *	  topic         a named fanout point (courier.topics); standard or FIFO
 *	  subscription  a queue subscribed to a topic, with an optional filter
 *	                policy (SNS dialect, pattern.c) matched against the
 *	                published headers or payload, and a delivery format
 *	  publish       one call of courier.publish(); it gets an id of its own,
 *	                drawn from the message id sequence (so no message has it)
 *	  delivery      the message one publish puts into one subscribed queue:
 *	                the payload itself (raw delivery) or an SNS-style
 *	                notification envelope around it
 *
 * Fanout is transactional: each delivery goes through the queue's own send
 * path (CourierSendMessage, queue.c), in the publisher's transaction, so a
 * rollback delivers nothing and each queue's rules (size limit, FIFO
 * deduplication and group order, long-poll wakeups at commit) apply as they
 * do to send().  The payload is stored once per delivery; docs/performance.md
 * ("Topics") has the measurements behind that choice.  A topic that requires
 * schemas checks the published message once, before the fanout (schema.c);
 * the queues' own requirement is for their senders and is not applied to
 * deliveries.
 *
 * Publishers take a shared object lock on the topic (keyed by a hash of its
 * name) until they commit; subscribe, unsubscribe and drop_topic take it
 * exclusively.  So a publisher reads the subscription list either before a
 * change (which then waits for it) or after the change committed, and never
 * delivers to a queue an unsubscribe has already released for dropping.
 * Deliveries go to the queues in queue-name order, whatever the topic, so
 * concurrent FIFO publishes to topics sharing queues lock message groups in
 * one order.
 *
 * Filter policies are compiled once per backend and cached per topic with
 * the topic's version; every subscription change sets a new version (a fresh
 * sequence value, never reused, so even a dropped and re-created topic or a
 * rolled-back change cannot be mistaken for the cached one).
 *
 * Statistics: delivered and filtered-out counts per subscription, counted
 * at commit in shared memory (stats.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "clock.h"
#include "compat.h"
#include "context.h"
#include "grants.h"
#include "envelope.h"
#include "pattern.h"
#include "pg_courier.h"
#include "plan.h"
#include "queue.h"
#include "queue_head.h"
#include "ruleset.h"
#include "schema.h"
#include "stats.h"
#include "topic.h"

PG_FUNCTION_INFO_V1(courier_lock_topic);
PG_FUNCTION_INFO_V1(courier_check_filter_policy);
PG_FUNCTION_INFO_V1(courier_publish);
PG_FUNCTION_INFO_V1(courier_forget_subscription_stats);
PG_FUNCTION_INFO_V1(courier_subscription_counts);

/* Longest topic name (courier.topics CHECK). */
#define COURIER_TOPIC_NAME_MAX 256

/*
 * From this many filter policies of one scope on, a topic matches them
 * through a rule set (ruleset.c), whose index looks only at the policies
 * whose exact values the message has; below it, one by one is cheaper
 * (docs/performance.md, "Pattern matching": 1 rule costs 0.6 us indexed
 * and 0.4 us directly, 10 rules 0.7 and 1.3 us).
 */
#define COURIER_TOPIC_INDEX_MIN 8

static SPIPlanPtr topic_plan = NULL;
static SPIPlanPtr subscriptions_plan = NULL;
static SPIPlanPtr notification_plan = NULL;

/* A subscription as publish() uses it. */
typedef struct CourierSubscription
{
	int64		subscription_id;
	text	   *queue_name;
	CourierFilterScope scope;
	CourierPattern *policy;		/* NULL: every message passes */
	bool		raw_delivery;
} CourierSubscription;

/*
 * A topic's subscriptions with their compiled policies, valid for one
 * version of the topic.  Everything a version needs lives in cxt, so a new
 * version replaces it by deleting one context.
 */
typedef struct CourierTopicCache
{
	char		topic_name[COURIER_TOPIC_NAME_MAX + 1]; /* hash key */
	bool		loaded;
	int64		version;
	MemoryContext cxt;
	int			nsubs;
	CourierSubscription *subs;
	/* per scope, when it has COURIER_TOPIC_INDEX_MIN policies or more */
	CourierRuleSet *sets[2];
	int		   *set_subs[2];	/* rule set position -> index into subs */
	int		   *set_matches;	/* room for nsubs positions */
	bool	   *passes;			/* per subscription, for one publish */
} CourierTopicCache;

static HTAB *topic_cache = NULL;

/* What the topic row says, and the id drawn for this publish. */
typedef struct CourierTopic
{
	bool		fifo;
	bool		content_based_dedup;
	int64		version;
	int64		publish_id;
	bool		require_schema; /* publishers' messages must match a registered schema */
} CourierTopic;

/* The lock that orders publishers against subscription changes. */
static void
LockTopic(text *topic_name, LOCKMODE mode)
{
	Oid			nsp = get_namespace_oid("courier", false);
	Oid			relid = get_relname_relid("topics", nsp);
	uint32		key;

	if (!OidIsValid(relid))
		elog(ERROR, "table courier.topics is missing");
	key = DatumGetUInt32(hash_any((const unsigned char *) VARDATA_ANY(topic_name),
								  VARSIZE_ANY_EXHDR(topic_name)));
	LockDatabaseObject(relid, (Oid) key, 0, mode);
}

/* courier._lock_topic(topic_name text, exclusive boolean) */
Datum
courier_lock_topic(PG_FUNCTION_ARGS)
{
	LockTopic(PG_GETARG_TEXT_PP(0),
			  PG_GETARG_BOOL(1) ? AccessExclusiveLock : AccessShareLock);
	PG_RETURN_VOID();
}

/*
 * courier._check_filter_policy(filter_policy jsonb, filter_scope text)
 *
 * Compiles the policy and throws the result away: subscribe() stores only
 * policies that compile, so publish() never meets an invalid one.
 */
Datum
courier_check_filter_policy(PG_FUNCTION_ARGS)
{
	CourierFilterScope scope;

	CourierArgNotNull(fcinfo, 1, "filter_scope");
	scope = CourierFilterScopeFromName(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (!PG_ARGISNULL(0))
	{
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "pg_courier filter policy check",
												  ALLOCSET_SMALL_SIZES);

		(void) CourierFilterPolicyCompile(PG_GETARG_JSONB_P(0), scope, cxt);
		MemoryContextDelete(cxt);
	}
	PG_RETURN_VOID();
}

static pg_attribute_noreturn() void
NoSuchTopic(text *topic_name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("topic \"%s\" does not exist", text_to_cstring(topic_name)),
			 errhint("Create it with courier.create_topic().")));
}

/*
 * Read the topic row and draw the publish id in one statement (nextval runs
 * only when the topic exists).
 */
static void
LookupTopic(text *topic_name, CourierTopic *topic)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	plan = CourierPlan(&topic_plan,
					   "SELECT t.fifo, t.content_based_dedup, t.version,"
					   "       pg_catalog.nextval('courier.message_id_seq'::pg_catalog.regclass),"
					   "       t.require_schema"
					   "  FROM courier.topics AS t"
					   " WHERE t.topic_name OPERATOR(pg_catalog.=) $1",
					   1, argtypes);
	values[0] = PointerGetDatum(topic_name);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "topic lookup failed");
	if (SPI_processed == 0)
		NoSuchTopic(topic_name);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	topic->fifo = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
	topic->content_based_dedup = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	topic->version = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	topic->publish_id = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	topic->require_schema = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
}

/*
 * Index the policies of each scope into a rule set when there are enough of
 * them (COURIER_TOPIC_INDEX_MIN); everything goes into cxt.
 */
static void
BuildRuleSets(CourierTopicCache *entry, CourierSubscription *subs, int n, MemoryContext cxt)
{
	int			scope;

	StaticAssertStmt(COURIER_SCOPE_HEADERS == 0 && COURIER_SCOPE_PAYLOAD == 1,
					 "filter scopes index the rule sets");
	entry->sets[0] = entry->sets[1] = NULL;
	entry->set_subs[0] = entry->set_subs[1] = NULL;
	entry->set_matches = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(int));
	entry->passes = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(bool));
	for (scope = 0; scope < 2; scope++)
	{
		CourierPattern **patterns = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(CourierPattern *));
		int		   *map = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(int));
		int			np = 0;
		int			i;

		for (i = 0; i < n; i++)
		{
			if (subs[i].policy != NULL && (int) subs[i].scope == scope)
			{
				patterns[np] = subs[i].policy;
				map[np++] = i;
			}
		}
		if (np >= COURIER_TOPIC_INDEX_MIN)
		{
			entry->sets[scope] = CourierRuleSetBuild(patterns, np, cxt);
			entry->set_subs[scope] = map;
		}
	}
}

/*
 * Which subscriptions does the message pass?  Sets cache->passes[i]: the
 * answer of CourierFilterPolicyMatch for each subscription, through the
 * rule sets where there are some.
 */
static void
MatchSubscriptions(CourierTopicCache *cache, Jsonb *headers, Jsonb *payload)
{
	int			scope;
	int			i;

	for (i = 0; i < cache->nsubs; i++)
	{
		const CourierSubscription *sub = &cache->subs[i];

		CHECK_FOR_INTERRUPTS();
		if (sub->policy == NULL)
			cache->passes[i] = true;
		else if (cache->sets[sub->scope] != NULL)
			cache->passes[i] = false;	/* decided below */
		else
			cache->passes[i] = CourierFilterPolicyMatch(sub->policy, sub->scope,
														headers, payload);
	}
	for (scope = 0; scope < 2; scope++)
	{
		Jsonb	   *doc;
		int			nmatch;

		if (cache->sets[scope] == NULL)
			continue;
		doc = CourierFilterDocument((CourierFilterScope) scope, headers, payload);
		if (doc == NULL)
			continue;
		nmatch = CourierRuleSetMatch(cache->sets[scope], doc, cache->set_matches);
		for (i = 0; i < nmatch; i++)
			cache->passes[cache->set_subs[scope][cache->set_matches[i]]] = true;
	}
}

/*
 * Read a topic's subscriptions and compile their policies into a new context
 * (a child of TopMemoryContext, deleted when the next version replaces it or
 * when loading fails).
 */
static void
LoadSubscriptions(text *topic_name, CourierTopicCache *entry, int64 version)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPIPlanPtr	plan;
	MemoryContext cxt;
	MemoryContext old = CurrentMemoryContext;
	CourierSubscription *subs;
	int			n;

	plan = CourierPlan(&subscriptions_plan,
					   "SELECT s.subscription_id, s.queue_name, s.filter_scope,"
					   "       s.filter_policy, s.raw_delivery"
					   "  FROM courier.subscriptions AS s"
					   " WHERE s.topic_name OPERATOR(pg_catalog.=) $1"
					   " ORDER BY s.queue_name",
					   1, argtypes);
	values[0] = PointerGetDatum(topic_name);
	/* not read-only: a fresh snapshot, taken after the topic lock */
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "subscription lookup failed");
	n = (int) SPI_processed;

	cxt = AllocSetContextCreate(TopMemoryContext, "pg_courier topic subscriptions",
								ALLOCSET_SMALL_SIZES);
	subs = MemoryContextAllocZero(cxt, Max(n, 1) * sizeof(CourierSubscription));
	PG_TRY();
	{
		int			i;

		MemoryContextSwitchTo(cxt);
		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum		d;
			char	   *scope;

			CHECK_FOR_INTERRUPTS();
			subs[i].subscription_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			subs[i].queue_name = DatumGetTextPCopy(SPI_getbinval(tup, desc, 2, &isnull));
			scope = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
			subs[i].scope = CourierFilterScopeFromName(scope);
			d = SPI_getbinval(tup, desc, 4, &isnull);
			subs[i].policy = isnull ? NULL
				: CourierFilterPolicyCompile(DatumGetJsonbP(d), subs[i].scope, cxt);
			subs[i].raw_delivery = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		}
		BuildRuleSets(entry, subs, n, cxt);
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (entry->loaded)
		MemoryContextDelete(entry->cxt);
	entry->cxt = cxt;
	entry->subs = subs;
	entry->nsubs = n;
	entry->version = version;
	entry->loaded = true;
}

/* The topic's subscriptions as of version, from the cache when it has them. */
static CourierTopicCache *
TopicSubscriptions(text *topic_name, int64 version)
{
	char		key[COURIER_TOPIC_NAME_MAX + 1];
	int			len = VARSIZE_ANY_EXHDR(topic_name);
	CourierTopicCache *entry;
	bool		found;

	if (topic_cache == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(key);
		info.entrysize = sizeof(CourierTopicCache);
		topic_cache = hash_create("pg_courier topic cache", 16, &info,
								  HASH_ELEM | HASH_STRINGS);
	}
	/* the topic row exists, so its name fits (courier.topics CHECK) */
	if (len > COURIER_TOPIC_NAME_MAX)
		elog(ERROR, "topic name too long for the cache");
	memset(key, 0, sizeof(key));
	memcpy(key, VARDATA_ANY(topic_name), len);

	entry = hash_search(topic_cache, key, HASH_ENTER, &found);
	if (!found)
		entry->loaded = false;
	if (!entry->loaded || entry->version != version)
		LoadSubscriptions(topic_name, entry, version);
	return entry;
}

static text *
OptionalIdArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	text	   *value;

	if (PG_ARGISNULL(argno))
		return NULL;
	value = PG_GETARG_TEXT_PP(argno);
	CourierCheckId(what, value);
	return value;
}

/*
 * What a topic asks of a publish: standard topics take no group or dedup id
 * (as SNS); FIFO topics need a group id and a dedup id, given or (with
 * content-based deduplication) the SHA-256 of the payload.  The dedup id is
 * passed to every subscribed queue, which deduplicates within its window.
 */
static void
CheckForTopic(text *topic_name, const CourierTopic *topic, Jsonb *payload,
			  text *group_id, text **dedup_id)
{
	if (!topic->fifo)
	{
		if (group_id != NULL || *dedup_id != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is only for FIFO topics",
							group_id != NULL ? "group_id" : "dedup_id"),
					 errdetail("Topic \"%s\" is a standard topic.", text_to_cstring(topic_name)),
					 errhint("Create the topic with fifo => true to get ordered, deduplicated delivery.")));
		return;
	}
	if (group_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("group_id is required on a FIFO topic"),
				 errhint("Messages of one group are delivered in order; use one group per entity that needs ordering.")));
	if (*dedup_id == NULL)
	{
		if (!topic->content_based_dedup)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dedup_id is required on a FIFO topic without content-based deduplication"),
					 errhint("Pass dedup_id, or create the topic with content_based_dedup => true.")));
		*dedup_id = CourierContentDedupId(payload);
	}
}

/*
 * The notification a non-raw subscription receives, as SNS sends it to SQS:
 * Type, MessageId (the publish id), Topic, Message (the payload, as JSON
 * rather than a string holding JSON), Timestamp (ISO 8601, milliseconds, UTC),
 * SequenceNumber on FIFO topics, MessageAttributes when there are headers.
 * Built once per publish, whatever the number of such subscriptions.
 */
static Jsonb *
BuildNotification(int64 publish_id, text *topic_name, Jsonb *payload, Jsonb *headers,
				  bool fifo, TimestampTz now)
{
	static Oid	argtypes[6] = {INT8OID, TEXTOID, JSONBOID, JSONBOID, BOOLOID, TIMESTAMPTZOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		d;

	plan = CourierPlan(&notification_plan,
					   "SELECT pg_catalog.jsonb_build_object("
					   "         'Type', 'Notification',"
					   "         'MessageId', $1::pg_catalog.text,"
					   "         'Topic', $2,"
					   "         'Message', $3,"
					   "         'Timestamp', pg_catalog.to_char($6 AT TIME ZONE 'UTC',"
					   "                                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
					   " OPERATOR(pg_catalog.||) CASE WHEN $5"
					   "     THEN pg_catalog.jsonb_build_object('SequenceNumber',"
					   "              pg_catalog.lpad($1::pg_catalog.text, 20, '0'))"
					   "     ELSE '{}'::pg_catalog.jsonb END"
					   " OPERATOR(pg_catalog.||) COALESCE("
					   "     (SELECT pg_catalog.jsonb_build_object('MessageAttributes',"
					   "                 pg_catalog.jsonb_object_agg(h.key,"
					   "                     pg_catalog.jsonb_build_object("
					   "                         'Type', CASE"
					   "                             WHEN pg_catalog.jsonb_typeof(h.value) OPERATOR(pg_catalog.=) 'number'"
					   "                             THEN 'Number'"
					   "                             WHEN pg_catalog.jsonb_typeof(h.value) OPERATOR(pg_catalog.=) 'array'"
					   "                             THEN 'String.Array'"
					   "                             ELSE 'String' END,"
					   "                         'Value', CASE"
					   "                             WHEN pg_catalog.jsonb_typeof(h.value) OPERATOR(pg_catalog.=) 'string'"
					   "                             THEN h.value OPERATOR(pg_catalog.#>>) '{}'"
					   "                             ELSE h.value::pg_catalog.text END)))"
					   "        FROM pg_catalog.jsonb_each($4) AS h"
					   "      HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0),"
					   "     '{}'::pg_catalog.jsonb)",
					   6, argtypes);
	values[0] = Int64GetDatum(publish_id);
	values[1] = PointerGetDatum(topic_name);
	values[2] = PointerGetDatum(payload);
	values[3] = PointerGetDatum(headers);
	if (headers == NULL)
		nulls[3] = 'n';
	values[4] = BoolGetDatum(fifo);
	values[5] = TimestampTzGetDatum(now);
	if (SPI_execute_plan(plan, values, nulls, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "courier.publish: could not build the notification");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetJsonbP(d);
}

static int64
JsonbBytes(Jsonb *j)
{
	return j != NULL ? VARSIZE_ANY_EXHDR(j) : 0;
}

static int64 Publish(text *topic_name, Jsonb *payload, Jsonb *headers, text *group_id,
					 text *dedup_id, bool from_publisher);

/*
 * courier.publish(topic_name text, payload jsonb, headers jsonb = null,
 *				   group_id text = null, dedup_id text = null) returns bigint
 *
 * Returns the publish id: the MessageId of every notification envelope of
 * this publish, drawn from the message id sequence.
 */
Datum
courier_publish(PG_FUNCTION_ARGS)
{
	Jsonb	   *headers = NULL;

	CourierArgNotNull(fcinfo, 0, "topic_name");
	CourierArgNotNull(fcinfo, 1, "payload");
	if (!PG_ARGISNULL(2))
		headers = PG_GETARG_JSONB_P(2);
	PG_RETURN_INT64(Publish(PG_GETARG_TEXT_PP(0), PG_GETARG_JSONB_P(1), headers,
							OptionalIdArg(fcinfo, 3, "group_id"),
							OptionalIdArg(fcinfo, 4, "dedup_id"), true));
}

/* A bus's topic target publishes (bus.c): the bus checked the event. */
int64
CourierPublish(text *topic_name, Jsonb *payload, Jsonb *headers, text *group_id,
			   text *dedup_id)
{
	return Publish(topic_name, payload, headers, group_id, dedup_id, false);
}

/*
 * from_publisher: publish() itself, where the topic's require_schema
 * applies, once, to the message published, and the caller's grants decide
 * how it acts (grants.c).
 */
static int64
Publish(text *topic_name, Jsonb *payload, Jsonb *headers, text *group_id,
		text *dedup_id, bool from_publisher)
{
	CourierEnvelope env;
	CourierTopic topic;
	CourierTopicCache *cache;
	Jsonb	   *notification = NULL;
	TimestampTz now;
	int64		publish_id;
	int			i;
	CourierAccess acc;

	/* checks the headers: an object of allowed values, reserved keys typed */
	CourierReadEnvelope(headers, &env);
	CourierContextApply(&env);
	memset(&acc, 0, sizeof(acc));
	if (from_publisher)
	{
		CourierAuthorizeText("publish", "topic", topic_name, &acc);
		CourierTenantApply(&acc, &env, "publish", "topic", topic_name);
	}

	CourierAccessBegin(&acc);
	SPI_connect();
	LockTopic(topic_name, AccessShareLock);
	LookupTopic(topic_name, &topic);
	if (topic.fifo)
		CourierTenantNoFifo(&acc, "publish to", "topic", topic_name);
	CheckForTopic(topic_name, &topic, payload, group_id, &dedup_id);
	if (from_publisher && topic.require_schema)
		CourierSchemaCheckMessage("topic", text_to_cstring(topic_name), &env, payload, 0, NULL);
	cache = TopicSubscriptions(topic_name, topic.version);
	now = CourierWriteBegin();
	publish_id = topic.publish_id;

	/*
	 * Nothing in this loop changes the topic's version, so cache->subs stays
	 * as it is (a publish from a trigger on courier.messages, which pg_courier
	 * does not support, could).
	 */
	MatchSubscriptions(cache, headers, payload);
	for (i = 0; i < cache->nsubs; i++)
	{
		const CourierSubscription *sub = &cache->subs[i];
		CourierNewMessage msg;

		CHECK_FOR_INTERRUPTS();
		if (!cache->passes[i])
		{
			CourierStatsAdd(COURIER_STATS_SUBSCRIPTION, sub->subscription_id,
							COURIER_SUB_FILTERED_OUT, 1);
			continue;
		}

		memset(&msg, 0, sizeof(msg));
		msg.env = env;
		msg.delay_usec = -1;
		msg.group_id = group_id;
		msg.dedup_id = dedup_id;
		if (sub->raw_delivery)
			msg.payload = payload;
		else
		{
			/* valid until SPI_finish, like the tuple table it is in */
			if (notification == NULL)
				notification = BuildNotification(publish_id, topic_name, payload,
												 headers, topic.fifo, now);
			msg.payload = notification;
		}
		(void) CourierSendMessage(sub->queue_name, &msg,
								  JsonbBytes(msg.payload) + JsonbBytes(headers),
								  false, now);
		CourierStatsAdd(COURIER_STATS_SUBSCRIPTION, sub->subscription_id,
						COURIER_SUB_DELIVERED, 1);
	}
	CourierWriteEnd();
	SPI_finish();
	CourierAccessEnd(&acc);

	return publish_id;
}

/*
 * courier._forget_subscription_stats(subscription_id bigint): when the
 * transaction commits, drop the subscription's shared counters.
 */
Datum
courier_forget_subscription_stats(PG_FUNCTION_ARGS)
{
	CourierStatsForget(COURIER_STATS_SUBSCRIPTION, PG_GETARG_INT64(0));
	PG_RETURN_VOID();
}

/*
 * courier._subscription_counts(subscription_id bigint,
 *		OUT delivered bigint, OUT filtered_out bigint)
 */
Datum
courier_subscription_counts(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	uint64		counters[COURIER_STATS_NCOUNTERS];
	Datum		values[2] = {0, 0};
	bool		nulls[2] = {true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (CourierStatsRead(COURIER_STATS_SUBSCRIPTION, PG_GETARG_INT64(0), counters))
	{
		values[0] = Int64GetDatum((int64) counters[COURIER_SUB_DELIVERED]);
		values[1] = Int64GetDatum((int64) counters[COURIER_SUB_FILTERED_OUT]);
		nulls[0] = nulls[1] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
