/*-------------------------------------------------------------------------
 *
 * asl_machine.h
 *	  A state machine definition compiled for the workflow engine.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_ASL_MACHINE_H
#define COURIER_ASL_MACHINE_H

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "asl_choice.h"
#include "asl_path.h"
#include "asl_template.h"

#define ASL_STATE_NAME_MAX 80

typedef enum AslStateType
{
	STATE_PASS,
	STATE_TASK,
	STATE_CHOICE,
	STATE_WAIT,
	STATE_SUCCEED,
	STATE_FAIL,
	STATE_PARALLEL,
	STATE_MAP
} AslStateType;


extern const char *const state_type_names[];

typedef struct AslRetrier
{
	int			nerrors;
	char	  **errors;
	double		interval;		/* seconds */
	int			max_attempts;
	double		backoff_rate;
	double		max_delay;		/* seconds; 0: none */
	bool		full_jitter;
} AslRetrier;

typedef struct AslCatcher
{
	int			nerrors;
	char	  **errors;
	char	   *next;
	AslPath    *result_path;
	bool		result_path_null;
} AslCatcher;

/* An optional path field: absent (default "$"), null, or a path. */
typedef struct PathField
{
	AslPath    *path;			/* NULL: absent or null */
	bool		is_null;
} PathField;

typedef struct AslState
{
	char	   *name;
	AslStateType type;
	char	   *next;			/* NULL with end, and for Choice/Succeed/Fail */
	bool		end;
	PathField	input_path;
	PathField	output_path;
	PathField	result_path;
	AslTemplate *parameters;
	AslTemplate *result_selector;
	bool		uses_context;	/* some field of the state mentions $$ */
	Jsonb	   *result;			/* Pass */
	/* Task */
	char	   *resource;
	double		timeout_seconds;	/* 0: none */
	AslPath    *timeout_seconds_path;
	double		heartbeat_seconds;	/* 0: none */
	AslPath    *heartbeat_seconds_path;
	/* Choice */
	int			nchoices;
	AslChoiceRule **choices;
	char	  **choice_next;
	char	   *default_next;
	/* Wait */
	bool		has_seconds;
	double		seconds;
	bool		has_timestamp;
	TimestampTz timestamp;
	AslPath    *seconds_path;
	AslPath    *timestamp_path;
	/* Fail */
	char	   *error;
	char	   *cause;
	AslPath    *error_path;
	AslPath    *cause_path;
	/* Parallel: Branches; Map: ItemProcessor (or Iterator) as branches[0] */
	int			nbranches;
	struct AslMachine **branches;
	/* Map (Parameters, the legacy ItemSelector, is in parameters) */
	AslPath    *items_path;		/* NULL: "$" */
	AslTemplate *item_selector;
	bool		distributed;
	int			max_concurrency;	/* 0: no limit */
	AslPath    *max_concurrency_path;
	double		tolerated_count;	/* -1: not given */
	double		tolerated_percentage;	/* -1: not given */
	AslPath    *tolerated_count_path;
	AslPath    *tolerated_percentage_path;
	/* Retry, Catch */
	int			nretriers;
	AslRetrier *retriers;
	int			ncatchers;
	AslCatcher *catchers;
} AslState;

typedef struct AslMachine
{
	char	   *start_at;
	int			nstates;
	AslState   *states;
} AslMachine;


extern AslMachine *AslCompileMachine(Jsonb *definition, MemoryContext cxt);
extern AslState *AslFindState(const AslMachine *m, const char *name);
extern double AslNumberValue(JsonbValue *v, double dflt);

#endif							/* COURIER_ASL_MACHINE_H */
