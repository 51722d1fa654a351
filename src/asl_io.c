/*-------------------------------------------------------------------------
 *
 * asl_io.c
 *	  A state's input and output processing (ASL, JSONPath mode):
 *	  InputPath, ResultPath, OutputPath and the payload size limit, and the
 *	  SQL functions that run paths and whole chains for tests.
 *
 * Vocabulary:
 *
 *	  raw input			what the state received, before InputPath
 *	  effective input	what InputPath (then Parameters) made of it: the
 *						task's input, or a Pass state's result
 *	  result			what the task produced (a Pass state: Result, or the
 *						effective input), shaped by ResultSelector
 *	  output			ResultPath's merge of the result into the RAW input,
 *						then OutputPath's selection from it
 *
 * The order, as AWS runs it:
 *
 *	  raw -InputPath-> -Parameters-> task -> result -ResultSelector->
 *		  -ResultPath (into raw)-> -OutputPath-> output
 *
 * A path that is null selects {} (InputPath, OutputPath) or keeps the raw
 * input (ResultPath: the result is discarded).  docs/asl-data-flow.md has
 * examples of each step.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "asl_int.h"
#include "asl_path.h"
#include "asl_template.h"
#include "jsonb_build.h"
#include "pg_courier.h"

PG_FUNCTION_INFO_V1(courier_test_asl_path);
PG_FUNCTION_INFO_V1(courier_test_asl_state_io);

static Jsonb *
EmptyObject(void)
{
	JsonbValue	v;

	AslRootValue(NULL, &v);
	return AslValueToJsonb(&v);
}

/* Is path "$" (or absent)? */
static bool
IsWholeInput(const AslPath *path)
{
	return path == NULL || (!AslPathIsContext(path) && AslPathStepCount(path) == 0);
}

/* InputPath and OutputPath. */
static bool
SelectWithPath(const AslPath *path, bool is_null, Jsonb *in, Jsonb *context,
			   Jsonb **out, AslError *err)
{
	if (is_null)
	{
		*out = EmptyObject();
		return true;
	}
	if (IsWholeInput(path))
	{
		*out = in;
		return true;
	}
	return AslPathEvaluate(path, in, context, out, err);
}

bool
AslApplyInputPath(const AslPath *input_path, bool is_null, Jsonb *raw,
				  Jsonb *context, Jsonb **out, AslError *err)
{
	return SelectWithPath(input_path, is_null, raw, context, out, err);
}

bool
AslApplyOutputPath(const AslPath *output_path, bool is_null, Jsonb *in,
				   Jsonb *context, Jsonb **out, AslError *err)
{
	return SelectWithPath(output_path, is_null, in, context, out, err);
}

typedef struct ResultPathWrite
{
	const AslPath *path;
	const JsonbValue *result;
	Jsonb	   *raw;			/* for the cause of a conflict */
	AslError   *err;
} ResultPathWrite;

static bool
Conflict(ResultPathWrite *w, int stepno)
{
	const char *key;
	int			keylen;
	int32		index;
	JsonbValue	raw;
	char	   *step;

	if (AslPathStep(w->path, stepno, &key, &keylen, &index))
		step = pnstrdup(key, keylen);
	else
		step = psprintf("[%d]", index);
	AslRootValue(w->raw, &raw);
	return AslFail(w->err, ASL_ERROR_REFERENCE_PATH_CONFLICT,
				   "Unable to apply step \"%s\" to input %s", step, AslJsonText(&raw));
}

/*
 * cur (NULL: absent, to be created) with the result written at
 * steps[stepno ..], into *out.  Every container on the way is rebuilt; the
 * rest is copied as it is.
 */
static bool
WriteAt(ResultPathWrite *w, const JsonbValue *cur, int stepno, JsonbValue *out)
{
	const char *key;
	int			keylen;
	int32		index;
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbValue	child;
	bool		found = false;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (stepno == AslPathStepCount(w->path))
	{
		*out = *w->result;
		return true;
	}

	if (AslPathStep(w->path, stepno, &key, &keylen, &index))
	{
		int			n = 0;
		int			size;
		JsonbValue *keys;
		JsonbValue *vals;
		int			i;

		if (cur != NULL && !AslIsObject(cur))
			return Conflict(w, stepno);

		/*
		 * The object's members with the one at the step replaced or added,
		 * written at once (CourierJsonbObjectFrom copies the other members'
		 * containers as they are).
		 */
		size = cur != NULL ? AslContainerSize(cur) : 0;
		keys = palloc(sizeof(JsonbValue) * (size + 1));
		vals = palloc(sizeof(JsonbValue) * (size + 1));
		if (cur != NULL)
		{
			it = JsonbIteratorInit(cur->val.binary.data);
			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok == WJB_KEY)
					keys[n] = v;
				else if (tok == WJB_VALUE)
					vals[n++] = v;
			}
		}
		for (i = 0; i < n && !found; i++)
		{
			if (keys[i].val.string.len == keylen &&
				memcmp(keys[i].val.string.val, key, keylen) == 0)
			{
				found = true;
				if (!WriteAt(w, &vals[i], stepno + 1, &child))
					return false;
				vals[i] = child;
			}
		}
		if (!found)
		{
			keys[n].type = jbvString;
			keys[n].val.string.val = (char *) key;
			keys[n].val.string.len = keylen;
			if (!WriteAt(w, NULL, stepno + 1, &child))
				return false;
			vals[n++] = child;
		}
		AslBinaryValue(CourierJsonbObjectFrom(n, keys, vals), out);
	}
	else
	{
		int			size;
		int			i = 0;

		/* an array element is replaced, never created */
		if (cur == NULL || !AslIsArray(cur))
			return Conflict(w, stepno);
		size = AslContainerSize(cur);
		if (index < 0)
			index += size;
		if (index < 0 || index >= size)
			return Conflict(w, stepno);
		(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		it = JsonbIteratorInit(cur->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (i++ == index)
			{
				if (!WriteAt(w, &v, stepno + 1, &child))
					return false;
				(void) pushJsonbValue(&state, WJB_ELEM, &child);
			}
			else
				(void) pushJsonbValue(&state, WJB_ELEM, &v);
		}
		AslBinaryValue(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_ARRAY, NULL)), out);
	}
	return true;
}

bool
AslApplyResultPath(const AslPath *result_path, bool is_null, Jsonb *raw_input,
				   Jsonb *result, Jsonb **out, AslError *err)
{
	ResultPathWrite w;
	JsonbValue	raw;
	JsonbValue	res;
	JsonbValue	written;

	if (is_null)
	{
		*out = raw_input;
		return true;
	}
	if (IsWholeInput(result_path))
	{
		*out = result;
		return AslCheckPayloadSize(result, "state output", err);
	}
	if (AslPathIsContext(result_path))
		return AslFail(err, ASL_ERROR_RUNTIME,
					   "ResultPath '%s' cannot write into the context object",
					   AslPathText(result_path));
	if (!AslPathIsDefinite(result_path))
		return AslFail(err, ASL_ERROR_RUNTIME,
					   "ResultPath '%s' is not a reference path",
					   AslPathText(result_path));

	w.path = result_path;
	AslRootValue(result, &res);
	w.result = &res;
	w.raw = raw_input;
	w.err = err;
	AslRootValue(raw_input, &raw);
	if (!WriteAt(&w, &raw, 0, &written))
		return false;
	*out = AslValueToJsonb(&written);
	return AslCheckPayloadSize(*out, "state output", err);
}

bool
AslCheckPayloadSize(Jsonb *doc, const char *what, AslError *err)
{
	JsonbValue	v;
	int64		size;

	AslRootValue(doc, &v);
	size = AslJsonTextLength(&v);
	if (size > ASL_MAX_PAYLOAD_BYTES)
		return AslFail(err, ASL_ERROR_DATA_LIMIT_EXCEEDED,
					   "The %s has a size of " INT64_FORMAT " bytes, exceeding the maximum number of bytes service limit (%d).",
					   what, size, ASL_MAX_PAYLOAD_BYTES);
	return true;
}


/* SQL functions */

/*
 * courier.test_asl_path(path text, input jsonb, context jsonb) returns jsonb
 *
 * What the path selects in the input (or, for "$$...", in the context
 * object).  A miss raises 22000 "States.Runtime: <cause>".
 */
Datum
courier_test_asl_path(PG_FUNCTION_ARGS)
{
	AslPath    *path;
	Jsonb	   *result;
	AslError	err;

	CourierArgNotNull(fcinfo, 0, "path");
	CourierArgNotNull(fcinfo, 1, "input");
	CourierArgNotNull(fcinfo, 2, "context");
	path = AslPathCompile(text_to_cstring(PG_GETARG_TEXT_PP(0)), false, CurrentMemoryContext);
	if (!AslPathEvaluate(path, PG_GETARG_JSONB_P(1), PG_GETARG_JSONB_P(2), &result, &err))
		AslRaise(&err);
	PG_RETURN_JSONB_P(result);
}

/* A field of the state object: false when absent. */
static bool
StateField(Jsonb *state, const char *name, JsonbValue *v)
{
	return getKeyJsonValueFromContainer(&state->root, name, strlen(name), v) != NULL;
}

/*
 * A path field of the state (InputPath, ResultPath, OutputPath): *path
 * NULL when absent (the default "$"), *is_null for JSON null.
 */
static void
StatePathField(Jsonb *state, const char *name, bool reference, AslPath **path, bool *is_null)
{
	JsonbValue	v;

	*path = NULL;
	*is_null = false;
	if (!StateField(state, name, &v))
		return;
	if (v.type == jbvNull)
		*is_null = true;
	else if (v.type == jbvString)
		*path = AslPathCompile(pnstrdup(v.val.string.val, v.val.string.len), reference,
							   CurrentMemoryContext);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a string or null", name),
				 errdetail("The value given is a JSON %s.", AslTypeName(&v))));
}

/*
 * courier.test_asl_state_io(state jsonb, input jsonb, result jsonb,
 *							  context jsonb) returns jsonb
 *
 * The output of a state with the state object's InputPath, Parameters,
 * ResultSelector, ResultPath and OutputPath for this input.  The result is
 * the state's Result when it has one (a Pass state), else the result
 * argument, else the effective input (what a Pass state without Result
 * passes on).  A failure raises 22000 "<error name>: <cause>".
 */
Datum
courier_test_asl_state_io(PG_FUNCTION_ARGS)
{
	Jsonb	   *state;
	Jsonb	   *input;
	Jsonb	   *context;
	Jsonb	   *effective;
	Jsonb	   *result;
	Jsonb	   *output;
	AslPath    *input_path;
	AslPath    *result_path;
	AslPath    *output_path;
	bool		input_null;
	bool		result_null;
	bool		output_null;
	AslTemplate *parameters = NULL;
	AslTemplate *result_selector = NULL;
	JsonbValue	v;
	AslError	err;

	CourierArgNotNull(fcinfo, 0, "state");
	CourierArgNotNull(fcinfo, 1, "input");
	CourierArgNotNull(fcinfo, 3, "context");
	state = PG_GETARG_JSONB_P(0);
	input = PG_GETARG_JSONB_P(1);
	context = PG_GETARG_JSONB_P(3);
	if (!JB_ROOT_IS_OBJECT(state))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state must be a JSON object"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(state) ? "scalar" : "array")));

	/* compile everything first: a bad state is an error before any step */
	StatePathField(state, "InputPath", false, &input_path, &input_null);
	StatePathField(state, "ResultPath", true, &result_path, &result_null);
	StatePathField(state, "OutputPath", false, &output_path, &output_null);
	if (StateField(state, "Parameters", &v))
		parameters = AslTemplateCompile(AslValueToJsonb(&v), CurrentMemoryContext);
	if (StateField(state, "ResultSelector", &v))
		result_selector = AslTemplateCompile(AslValueToJsonb(&v), CurrentMemoryContext);

	if (!AslCheckPayloadSize(input, "state input", &err) ||
		!AslApplyInputPath(input_path, input_null, input, context, &effective, &err))
		AslRaise(&err);

	if (parameters != NULL &&
		!AslTemplateApply(parameters, effective, context, &effective, &err))
		AslRaise(&err);

	if (StateField(state, "Result", &v))
		result = AslValueToJsonb(&v);
	else if (!PG_ARGISNULL(2))
		result = PG_GETARG_JSONB_P(2);
	else
		result = effective;

	if (result_selector != NULL &&
		!AslTemplateApply(result_selector, result, context, &result, &err))
		AslRaise(&err);

	if (!AslApplyResultPath(result_path, result_null, input, result, &output, &err) ||
		!AslApplyOutputPath(output_path, output_null, output, context, &output, &err))
		AslRaise(&err);
	PG_RETURN_JSONB_P(output);
}
