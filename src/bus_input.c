/* placeholder until the input shaping module lands */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "commands/dbcommands.h"

#include "bus_input.h"

PG_FUNCTION_INFO_V1(courier_check_target_input);

CourierTargetInput *
CourierTargetInputCompile(Jsonb *input pg_attribute_unused(), text *input_path pg_attribute_unused(),
						  Jsonb *input_transformer pg_attribute_unused(),
						  MemoryContext cxt pg_attribute_unused())
{
	return NULL;
}

Jsonb *
CourierTargetInputApply(const CourierTargetInput *ti pg_attribute_unused(), Jsonb *event,
						const CourierInputContext *ctx pg_attribute_unused())
{
	return event;
}

char *
CourierRuleArn(const char *bus_name, const char *rule_name)
{
	return psprintf("arn:courier:events:local:%s:rule/%s/%s",
					get_database_name(MyDatabaseId), bus_name, rule_name);
}

Datum
courier_check_target_input(PG_FUNCTION_ARGS pg_attribute_unused())
{
	PG_RETURN_VOID();
}
