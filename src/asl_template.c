/*-------------------------------------------------------------------------
 *
 * asl_template.c
 *	  ASL payload templates: compiled once into a tree, applied to a state's
 *	  input (Parameters, ItemSelector) or a task's result (ResultSelector).
 *
 * Vocabulary:
 *
 *	  template		any JSON value; in objects, a key ending in ".$" is a
 *					dynamic field
 *	  dynamic field	a key "name.$" whose string value is a path ("$..."), a
 *					context path ("$$...") or an intrinsic function call
 *					("States.Name(...)"); the output has "name" with what the
 *					value selects or computes
 *	  constant		a subtree with no dynamic field anywhere below: kept as
 *					jsonb and copied as it is
 *
 * The tree's leaves are constants, paths and calls; objects and arrays
 * holding dynamic fields are inner nodes.  Every syntax error is found when
 * compiling; applying fails only on what the data holds (a path that selects
 * nothing, an intrinsic function given arguments it cannot take).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "asl_int.h"
#include "asl_template.h"
#include "pg_courier.h"

PG_FUNCTION_INFO_V1(courier_test_asl_template);

typedef enum TplKind
{
	TPL_CONSTANT,
	TPL_OBJECT,
	TPL_ARRAY,
	TPL_PATH,
	TPL_CALL
} TplKind;

typedef struct TplNode TplNode;

struct TplNode
{
	TplKind		kind;
	Jsonb	   *constant;		/* TPL_CONSTANT */
	int			nitems;			/* TPL_OBJECT, TPL_ARRAY */
	JsonbValue *keys;			/* TPL_OBJECT: output keys (jbvString) */
	TplNode   **items;
	char	   *field;			/* TPL_PATH, TPL_CALL: the key, with ".$" */
	AslPath    *path;			/* TPL_PATH */
	AslCall    *call;			/* TPL_CALL */
};

struct AslTemplate
{
	TplNode    *root;
};


/* Compiling */

static bool
IsDynamicKey(const JsonbValue *key)
{
	return key->val.string.len >= 2 &&
		memcmp(key->val.string.val + key->val.string.len - 2, ".$", 2) == 0;
}

/* The value of a dynamic field: a path or an intrinsic function call. */
static TplNode *
CompileDynamic(const char *field, const JsonbValue *v)
{
	TplNode    *node = palloc0(sizeof(TplNode));
	char	   *str;

	node->field = pstrdup(field);
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid payload template: the value of field \"%s\" must be a string", field),
				 errdetail("It is a JSON %s; a field ending in \".$\" takes a JSONPath or an intrinsic function call.",
						   AslTypeName(v))));
	str = pnstrdup(v->val.string.val, v->val.string.len);
	if (str[0] == '$')
	{
		if (isalpha((unsigned char) str[1]) || str[1] == '_')
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("workflow variables are not supported: field \"%s\" refers to \"%s\"",
							field, str),
					 errdetail("Only JSONPath paths (\"$...\", \"$$...\") and intrinsic function calls are.")));
		node->kind = TPL_PATH;
		node->path = AslPathCompileField(str, field);
	}
	else if (strncmp(str, "States.", 7) == 0)
	{
		node->kind = TPL_CALL;
		node->call = AslIntrinsicCompile(str, field);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid payload template: the value of field \"%s\" must be a JSONPath or an intrinsic function call",
						field),
				 errdetail("It is \"%s\"; a path begins with \"$\", an intrinsic function call with \"States.\".",
						   str)));
	return node;
}

static TplNode *
NewConstant(const JsonbValue *v)
{
	TplNode    *node = palloc0(sizeof(TplNode));

	node->kind = TPL_CONSTANT;
	node->constant = AslValueToJsonb(v);
	return node;
}

static TplNode *
CompileValue(const JsonbValue *v)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	child;
	JsonbValue	key = {0};
	TplNode    *node;
	bool		object;
	bool		dynamic = false;
	int			max;

	if (v->type != jbvBinary)
		return NewConstant(v);

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	object = AslIsObject(v);
	node = palloc0(sizeof(TplNode));
	node->kind = object ? TPL_OBJECT : TPL_ARRAY;
	max = Max(AslContainerSize(v), 1);
	node->items = palloc(sizeof(TplNode *) * max);
	if (object)
		node->keys = palloc(sizeof(JsonbValue) * max);

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &child, true)) != WJB_DONE)
	{
		TplNode    *item;

		if (tok == WJB_KEY)
		{
			key = child;
			continue;
		}
		if (tok != WJB_VALUE && tok != WJB_ELEM)
			continue;
		if (object && IsDynamicKey(&key))
		{
			char	   *field = pnstrdup(key.val.string.val, key.val.string.len);
			JsonbValue	plain;

			/* "a" and "a.$" would both produce "a" */
			if (getKeyJsonValueFromContainer(v->val.binary.data, key.val.string.val,
											 key.val.string.len - 2, &plain) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid payload template: fields \"%.*s\" and \"%s\" both produce \"%.*s\"",
								key.val.string.len - 2, field, field,
								key.val.string.len - 2, field)));
			item = CompileDynamic(field, &child);
			key.val.string.len -= 2;
		}
		else
			item = CompileValue(&child);
		if (item->kind != TPL_CONSTANT)
			dynamic = true;
		if (object)
		{
			node->keys[node->nitems].type = jbvString;
			node->keys[node->nitems].val.string.val = pnstrdup(key.val.string.val, key.val.string.len);
			node->keys[node->nitems].val.string.len = key.val.string.len;
		}
		node->items[node->nitems++] = item;
	}
	if (!dynamic)
	{
		/* all constants: one copy of the whole subtree replaces them */
		int			i;

		for (i = 0; i < node->nitems; i++)
		{
			pfree(node->items[i]->constant);
			pfree(node->items[i]);
			if (object)
				pfree(node->keys[i].val.string.val);
		}
		pfree(node->items);
		if (object)
			pfree(node->keys);
		pfree(node);
		return NewConstant(v);
	}
	return node;
}

AslTemplate *
AslTemplateCompile(Jsonb *tmpl, MemoryContext cxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	AslTemplate *t = palloc0(sizeof(AslTemplate));
	JsonbValue	v;

	AslRootValue(tmpl, &v);
	t->root = CompileValue(&v);
	MemoryContextSwitchTo(oldcxt);
	return t;
}


/* Applying */

typedef struct TplApply
{
	AslEnv		env;
	Jsonb	   *input;			/* for causes */
	Jsonb	   *context;
	AslError   *err;
} TplApply;

static bool PushContainer(TplApply *a, JsonbParseState **state, const TplNode *node,
						  JsonbValue **res);

/* The value of a node that is not an object or array of the template. */
static bool
NodeValue(TplApply *a, const TplNode *node, JsonbValue *out)
{
	switch (node->kind)
	{
		case TPL_CONSTANT:
			AslRootValue(node->constant, out);
			return true;
		case TPL_PATH:
			if (!AslPathLookup(node->path, &a->env, out, NULL))
			{
				JsonbValue	in = AslPathIsContext(node->path) ? a->env.context : a->env.input;

				return AslFail(a->err, ASL_ERROR_RUNTIME,
							   "The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'",
							   AslPathText(node->path), node->field, AslJsonText(&in));
			}
			return true;
		case TPL_CALL:
			return AslIntrinsicEvaluate(node->call, &a->env, out, a->err);
		default:
			{
				JsonbParseState *state = NULL;
				JsonbValue *res;

				if (!PushContainer(a, &state, node, &res))
					return false;
				AslBinaryValue(JsonbValueToJsonb(res), out);
				return true;
			}
	}
}

static bool
PushContainer(TplApply *a, JsonbParseState **state, const TplNode *node, JsonbValue **res)
{
	bool		object = node->kind == TPL_OBJECT;
	int			i;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	(void) pushJsonbValue(state, object ? WJB_BEGIN_OBJECT : WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < node->nitems; i++)
	{
		const TplNode *item = node->items[i];

		if (object)
			(void) pushJsonbValue(state, WJB_KEY, &node->keys[i]);
		if (item->kind == TPL_OBJECT || item->kind == TPL_ARRAY)
		{
			JsonbValue *ignored;

			if (!PushContainer(a, state, item, &ignored))
				return false;
		}
		else
		{
			JsonbValue	v;

			if (!NodeValue(a, item, &v))
				return false;
			(void) pushJsonbValue(state, object ? WJB_VALUE : WJB_ELEM, &v);
		}
	}
	*res = pushJsonbValue(state, object ? WJB_END_OBJECT : WJB_END_ARRAY, NULL);
	return true;
}

bool
AslTemplateApply(const AslTemplate *t, Jsonb *input, Jsonb *context, Jsonb **out,
				 AslError *err)
{
	TplApply	a;
	JsonbValue	v;

	AslRootValue(input, &a.env.input);
	AslRootValue(context, &a.env.context);
	a.input = input;
	a.context = context;
	a.err = err;
	if (!NodeValue(&a, t->root, &v))
		return false;
	*out = AslValueToJsonb(&v);
	return AslCheckPayloadSize(*out, "payload template output", err);
}


/* SQL function */

/*
 * courier.test_asl_template(template jsonb, input jsonb, context jsonb)
 * returns jsonb
 *
 * The payload template applied to input.  A failure raises 22000
 * "<error name>: <cause>".
 */
Datum
courier_test_asl_template(PG_FUNCTION_ARGS)
{
	AslTemplate *t;
	Jsonb	   *out;
	AslError	err;

	CourierArgNotNull(fcinfo, 0, "template");
	CourierArgNotNull(fcinfo, 1, "input");
	CourierArgNotNull(fcinfo, 2, "context");
	t = AslTemplateCompile(PG_GETARG_JSONB_P(0), CurrentMemoryContext);
	if (!AslTemplateApply(t, PG_GETARG_JSONB_P(1), PG_GETARG_JSONB_P(2), &out, &err))
		AslRaise(&err);
	PG_RETURN_JSONB_P(out);
}
