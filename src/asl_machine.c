/*-------------------------------------------------------------------------
 *
 * asl_machine.c
 *	  Compiling a validated Amazon States Language definition into the
 *	  structures the workflow engine runs (asl_machine.h): states with their
 *	  compiled paths, payload templates, Choice rules, retriers and catchers.
 *
 * Definitions are validated by asl_validate.c when they are created; this
 * file trusts that and only translates.  The engine (workflow.c) compiles
 * each machine version once per backend and keeps it in a cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "asl_machine.h"
#include "jsonb_build.h"

const char *const state_type_names[] = {
	"Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"
};


static char *
StringValue(JsonbValue *v, MemoryContext cxt)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return MemoryContextStrdup(cxt, pnstrdup(v->val.string.val, v->val.string.len));
}

double
AslNumberValue(JsonbValue *v, double dflt)
{
	if (v == NULL || v->type != jbvNumeric)
		return dflt;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static Jsonb *
ValueJsonb(JsonbValue *v)
{
	return JsonbValueToJsonb(v);
}

static PathField
CompilePathField(JsonbContainer *state, const char *key, bool reference, MemoryContext cxt)
{
	PathField	f = {NULL, false};
	JsonbValue *v = CourierJsonbField(state, key);

	if (v == NULL)
		return f;
	if (v->type == jbvNull)
	{
		f.is_null = true;
		return f;
	}
	f.path = AslPathCompile(pnstrdup(v->val.string.val, v->val.string.len), reference, cxt);
	return f;
}

static char **
CompileErrorList(JsonbValue *list, int *n, MemoryContext cxt)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	  **errors;
	int			i = 0;

	*n = 0;
	if (list == NULL || list->type != jbvBinary)
		return NULL;
	errors = MemoryContextAllocZero(cxt, sizeof(char *) * Max(JsonContainerSize(list->val.binary.data), 1));
	it = JsonbIteratorInit(list->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM && v.type == jbvString)
			errors[i++] = StringValue(&v, cxt);
	*n = i;
	return errors;
}

static void
CompileRetryCatch(AslState *s, JsonbContainer *state, MemoryContext cxt)
{
	JsonbValue *retry = CourierJsonbField(state, "Retry");
	JsonbValue *catch = CourierJsonbField(state, "Catch");
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (retry != NULL && retry->type == jbvBinary)
	{
		s->retriers = MemoryContextAllocZero(cxt, sizeof(AslRetrier) * Max(JsonContainerSize(retry->val.binary.data), 1));
		it = JsonbIteratorInit(retry->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			AslRetrier *r;
			JsonbValue *js;

			if (tok != WJB_ELEM || v.type != jbvBinary)
				continue;
			r = &s->retriers[s->nretriers++];
			r->errors = CompileErrorList(CourierJsonbField(v.val.binary.data, "ErrorEquals"), &r->nerrors, cxt);
			r->interval = AslNumberValue(CourierJsonbField(v.val.binary.data, "IntervalSeconds"), 1);
			r->max_attempts = (int) AslNumberValue(CourierJsonbField(v.val.binary.data, "MaxAttempts"), 3);
			r->backoff_rate = AslNumberValue(CourierJsonbField(v.val.binary.data, "BackoffRate"), 2.0);
			r->max_delay = AslNumberValue(CourierJsonbField(v.val.binary.data, "MaxDelaySeconds"), 0);
			js = CourierJsonbField(v.val.binary.data, "JitterStrategy");
			r->full_jitter = js != NULL && js->type == jbvString &&
				js->val.string.len == 4 && memcmp(js->val.string.val, "FULL", 4) == 0;
		}
	}
	if (catch != NULL && catch->type == jbvBinary)
	{
		s->catchers = MemoryContextAllocZero(cxt, sizeof(AslCatcher) * Max(JsonContainerSize(catch->val.binary.data), 1));
		it = JsonbIteratorInit(catch->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			AslCatcher *c;
			PathField	rp;

			if (tok != WJB_ELEM || v.type != jbvBinary)
				continue;
			c = &s->catchers[s->ncatchers++];
			c->errors = CompileErrorList(CourierJsonbField(v.val.binary.data, "ErrorEquals"), &c->nerrors, cxt);
			c->next = StringValue(CourierJsonbField(v.val.binary.data, "Next"), cxt);
			rp = CompilePathField(v.val.binary.data, "ResultPath", true, cxt);
			c->result_path = rp.path;
			c->result_path_null = rp.is_null;
		}
	}
}

static AslStateType
StateType(const char *name)
{
	int			i;

	for (i = 0; i < (int) lengthof(state_type_names); i++)
		if (strcmp(state_type_names[i], name) == 0)
			return (AslStateType) i;
	elog(ERROR, "unknown state type \"%s\" in a validated definition", name);
}

static AslPath *
OptionalPath(JsonbContainer *state, const char *key, bool reference, MemoryContext cxt)
{
	JsonbValue *v = CourierJsonbField(state, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return AslPathCompile(pnstrdup(v->val.string.val, v->val.string.len), reference, cxt);
}

/*
 * The sub-machines of a Parallel state (its Branches) or a Map state (its
 * ItemProcessor or Iterator), compiled recursively, with a Map's fields.
 */
static void
CompileBranches(AslState *s, JsonbContainer *state, MemoryContext cxt)
{
	JsonbValue *v;

	if (s->type == STATE_PARALLEL)
	{
		JsonbValue *branches = CourierJsonbField(state, "Branches");
		JsonbIterator *it;
		JsonbValue	b;
		JsonbIteratorToken tok;

		if (branches == NULL || branches->type != jbvBinary)
			return;
		s->branches = MemoryContextAllocZero(cxt, sizeof(AslMachine *) *
											 Max(JsonContainerSize(branches->val.binary.data), 1));
		it = JsonbIteratorInit(branches->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &b, true)) != WJB_DONE)
			if (tok == WJB_ELEM && b.type == jbvBinary)
				s->branches[s->nbranches++] = AslCompileMachine(ValueJsonb(&b), cxt);
		return;
	}

	v = CourierJsonbField(state, "ItemProcessor");
	if (v == NULL)
		v = CourierJsonbField(state, "Iterator");
	if (v != NULL && v->type == jbvBinary)
	{
		JsonbValue *cfg = CourierJsonbField(v->val.binary.data, "ProcessorConfig");
		JsonbValue *mode = cfg && cfg->type == jbvBinary ?
			CourierJsonbField(cfg->val.binary.data, "Mode") : NULL;

		s->distributed = mode != NULL && mode->type == jbvString &&
			mode->val.string.len == 11 && memcmp(mode->val.string.val, "DISTRIBUTED", 11) == 0;
		s->branches = MemoryContextAllocZero(cxt, sizeof(AslMachine *));
		s->branches[0] = AslCompileMachine(ValueJsonb(v), cxt);
		s->nbranches = 1;
	}
	s->items_path = OptionalPath(state, "ItemsPath", false, cxt);
	if ((v = CourierJsonbField(state, "ItemSelector")) != NULL)
		s->item_selector = AslTemplateCompile(ValueJsonb(v), cxt);
	s->max_concurrency = (int) AslNumberValue(CourierJsonbField(state, "MaxConcurrency"), 0);
	s->max_concurrency_path = OptionalPath(state, "MaxConcurrencyPath", true, cxt);
	s->tolerated_count = AslNumberValue(CourierJsonbField(state, "ToleratedFailureCount"), -1);
	s->tolerated_percentage = AslNumberValue(CourierJsonbField(state, "ToleratedFailurePercentage"), -1);
	s->tolerated_count_path = OptionalPath(state, "ToleratedFailureCountPath", true, cxt);
	s->tolerated_percentage_path = OptionalPath(state, "ToleratedFailurePercentagePath", true, cxt);
}

static void
CompileState(AslState *s, const char *name, JsonbContainer *state, MemoryContext cxt)
{
	JsonbValue *v;

	s->name = MemoryContextStrdup(cxt, name);
	s->type = StateType(StringValue(CourierJsonbField(state, "Type"), CurrentMemoryContext));
	s->next = StringValue(CourierJsonbField(state, "Next"), cxt);
	v = CourierJsonbField(state, "End");
	s->end = v != NULL && v->type == jbvBool && v->val.boolean;
	s->input_path = CompilePathField(state, "InputPath", false, cxt);
	s->output_path = CompilePathField(state, "OutputPath", false, cxt);
	s->result_path = CompilePathField(state, "ResultPath", true, cxt);
	/* the engine builds the context object only for states that may read it */
	s->uses_context = strstr(JsonbToCString(NULL, state, -1), "$$") != NULL;
	if ((v = CourierJsonbField(state, "Parameters")) != NULL)
		s->parameters = AslTemplateCompile(ValueJsonb(v), cxt);
	if ((v = CourierJsonbField(state, "ResultSelector")) != NULL)
		s->result_selector = AslTemplateCompile(ValueJsonb(v), cxt);
	if ((v = CourierJsonbField(state, "Result")) != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		s->result = ValueJsonb(v);
		MemoryContextSwitchTo(old);
	}
	s->resource = StringValue(CourierJsonbField(state, "Resource"), cxt);
	if (s->type == STATE_TASK)
	{
		s->timeout_seconds = AslNumberValue(CourierJsonbField(state, "TimeoutSeconds"), 0);
		s->heartbeat_seconds = AslNumberValue(CourierJsonbField(state, "HeartbeatSeconds"), 0);
		if ((v = CourierJsonbField(state, "TimeoutSecondsPath")) != NULL && v->type == jbvString)
			s->timeout_seconds_path = AslPathCompile(pnstrdup(v->val.string.val, v->val.string.len), true, cxt);
		if ((v = CourierJsonbField(state, "HeartbeatSecondsPath")) != NULL && v->type == jbvString)
			s->heartbeat_seconds_path = AslPathCompile(pnstrdup(v->val.string.val, v->val.string.len), true, cxt);
	}

	if (s->type == STATE_CHOICE)
	{
		JsonbValue *choices = CourierJsonbField(state, "Choices");
		JsonbIterator *it;
		JsonbValue	c;
		JsonbIteratorToken tok;
		int			n = choices && choices->type == jbvBinary ?
			JsonContainerSize(choices->val.binary.data) : 0;

		s->choices = MemoryContextAllocZero(cxt, sizeof(AslChoiceRule *) * Max(n, 1));
		s->choice_next = MemoryContextAllocZero(cxt, sizeof(char *) * Max(n, 1));
		if (n > 0)
		{
			it = JsonbIteratorInit(choices->val.binary.data);
			while ((tok = JsonbIteratorNext(&it, &c, true)) != WJB_DONE)
			{
				if (tok != WJB_ELEM || c.type != jbvBinary)
					continue;
				s->choice_next[s->nchoices] = StringValue(CourierJsonbField(c.val.binary.data, "Next"), cxt);
				s->choices[s->nchoices++] = AslChoiceCompile(ValueJsonb(&c), cxt);
			}
		}
		s->default_next = StringValue(CourierJsonbField(state, "Default"), cxt);
	}
	if (s->type == STATE_WAIT)
	{
		if ((v = CourierJsonbField(state, "Seconds")) != NULL)
		{
			s->has_seconds = true;
			s->seconds = AslNumberValue(v, 0);
		}
		if ((v = CourierJsonbField(state, "Timestamp")) != NULL && v->type == jbvString)
		{
			s->has_timestamp = true;
			s->timestamp = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																   CStringGetDatum(pnstrdup(v->val.string.val, v->val.string.len)),
																   ObjectIdGetDatum(InvalidOid),
																   Int32GetDatum(-1)));
		}
		if ((v = CourierJsonbField(state, "SecondsPath")) != NULL && v->type == jbvString)
			s->seconds_path = AslPathCompile(pnstrdup(v->val.string.val, v->val.string.len), true, cxt);
		if ((v = CourierJsonbField(state, "TimestampPath")) != NULL && v->type == jbvString)
			s->timestamp_path = AslPathCompile(pnstrdup(v->val.string.val, v->val.string.len), true, cxt);
	}
	if (s->type == STATE_FAIL)
	{
		s->error = StringValue(CourierJsonbField(state, "Error"), cxt);
		s->cause = StringValue(CourierJsonbField(state, "Cause"), cxt);
		if ((v = CourierJsonbField(state, "ErrorPath")) != NULL && v->type == jbvString)
			s->error_path = AslPathCompile(pnstrdup(v->val.string.val, v->val.string.len), true, cxt);
		if ((v = CourierJsonbField(state, "CausePath")) != NULL && v->type == jbvString)
			s->cause_path = AslPathCompile(pnstrdup(v->val.string.val, v->val.string.len), true, cxt);
	}
	if (s->type == STATE_PARALLEL || s->type == STATE_MAP)
		CompileBranches(s, state, cxt);
	CompileRetryCatch(s, state, cxt);
}

AslMachine *
AslCompileMachine(Jsonb *definition, MemoryContext cxt)
{
	AslMachine *m = MemoryContextAllocZero(cxt, sizeof(AslMachine));
	JsonbValue *states = CourierJsonbField(&definition->root, "States");
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;

	m->start_at = StringValue(CourierJsonbField(&definition->root, "StartAt"), cxt);
	if (states == NULL || states->type != jbvBinary)
		elog(ERROR, "state machine definition without States");
	m->states = MemoryContextAllocZero(cxt, sizeof(AslState) * Max(JsonContainerSize(states->val.binary.data), 1));
	it = JsonbIteratorInit(states->val.binary.data);
	tok = JsonbIteratorNext(&it, &v, true);
	while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
	{
		char	   *name = pnstrdup(k.val.string.val, k.val.string.len);

		tok = JsonbIteratorNext(&it, &v, true);
		CHECK_FOR_INTERRUPTS();
		if (v.type == jbvBinary)
			CompileState(&m->states[m->nstates++], name, v.val.binary.data, cxt);
	}
	return m;
}

AslState *
AslFindState(const AslMachine *m, const char *name)
{
	int			i;

	for (i = 0; i < m->nstates; i++)
		if (strcmp(m->states[i].name, name) == 0)
			return &m->states[i];
	return NULL;
}

