# pg_courier — PGXS build.
#
# The install script sql/pg_courier--$(EXTVERSION).sql is generated from the
# per-object files listed in SQL_PARTS, in that order; never edit it by hand.
# The version lives only in pg_courier.control.

EXTENSION  = pg_courier
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" $(EXTENSION).control)
MODULE_big = pg_courier

OBJS = \
	src/pg_courier.o \
	src/clock.o \
	src/plan.o \
	src/envelope.o \
	src/jsonb_build.o \
	src/receipt.o \
	src/queue.o \
	src/queue_lease.o \
	src/queue_fifo.o \
	src/queue_dlq.o \
	src/queue_head.o \
	src/queue_defer.o \
	src/queue_store.o \
	src/wait.o \
	src/worker.o \
	src/pattern.o \
	src/ruleset.o \
	src/topic.o \
	src/stats.o \
	src/operations.o \
	src/bus.o \
	src/bus_input.o \
	src/bus_delivery.o \
	src/asl_json.o \
	src/asl_path.o \
	src/asl_io.o \
	src/asl_template.o \
	src/asl_intrinsics.o \
	src/asl_choice.o \
	src/asl_validate.o \
	src/asl_machine.o \
	src/workflow.o \
	src/workflow_store.o \
	src/workflow_task.o \
	src/task_token.o \
	src/workflow_map.o \
	src/schema.o \
	src/schema_compat.o \
	src/context.o \
	src/outbox.o \
	src/grants.o

# Order matters: later parts use objects created by earlier ones.
SQL_PARTS = \
	sql/parts/00_preamble.sql \
	sql/parts/10_queue_tables.sql \
	sql/parts/20_queue_admin.sql \
	sql/parts/30_queue_messages.sql \
	sql/parts/40_dead_letters.sql \
	sql/parts/50_maintenance.sql \
	sql/parts/60_patterns.sql \
	sql/parts/70_topics.sql \
	sql/parts/75_bus_input.sql \
	sql/parts/80_buses.sql \
	sql/parts/84_bus_archives.sql \
	sql/parts/86_asl_validate.sql \
	sql/parts/87_asl_dataflow.sql \
	sql/parts/88_workflows.sql \
	sql/parts/93_task_tokens.sql \
	sql/parts/94_workflow_map.sql \
	sql/parts/95_workflow_redrive.sql \
	sql/parts/89_outbox.sql \
	sql/parts/91_schemas.sql \
	sql/parts/96_operations.sql \
	sql/parts/97_grants.sql \
	sql/parts/90_privileges.sql

INSTALL_SQL = sql/$(EXTENSION)--$(EXTVERSION).sql
# Hand-written upgrade scripts (sql/pg_courier--X.Y--X.Z.sql) and frozen
# install scripts of released versions are committed; they all ship.
DATA = $(INSTALL_SQL) $(filter-out $(INSTALL_SQL),$(wildcard sql/$(EXTENSION)--*.sql))
EXTRA_CLEAN = $(INSTALL_SQL) src/sqlstate_names.h

# pg_regress suites: test/sql/NAME.sql, expected output in expected/NAME.out
# (test/expected is a link to the top-level expected/ folder).
REGRESS = $(sort $(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)
# isolation specs: test/specs/NAME.spec, expected output in expected/NAME.out
ISOLATION = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION)

# The library checks that the installed SQL objects are of its own version.
override PG_CPPFLAGS += -DCOURIER_VERSION=\"$(EXTVERSION)\"

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

all: $(INSTALL_SQL)

$(INSTALL_SQL): $(SQL_PARTS) $(EXTENSION).control
	@{ printf '%s\n' '-- generated from sql/parts/ by the Makefile; do not edit'; \
	   printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	   for f in $(SQL_PARTS); do printf '\n-- %s\n' "$$f"; cat "$$f"; done; } > $@

$(OBJS): $(wildcard src/*.h)

# SQLSTATE -> condition name (unique_violation, ...) for workflow errors,
# from the server's own list.
src/sqlstate_names.h: $(shell $(PG_CONFIG) --includedir-server)/utils/errcodes.h
	awk '/^#define ERRCODE_/ && /MAKE_SQLSTATE/ { n = substr($$2, 9); printf "{%s, \"%s\"},\n", $$2, tolower(n) }' $< > $@
src/workflow_task.o: src/sqlstate_names.h

# The two commands of the README, and their helpers (scripts/).
.PHONY: run stop test bench reliability
run:
	@bash scripts/run.sh

stop:
	@bash scripts/stop.sh

test:
	@bash scripts/test.sh

bench:
	@bash bench/run.sh

# The reliability battery in full mode (docs/reliability.md); make test runs
# its quick mode.
reliability:
	@bash scripts/reliability.sh --full
