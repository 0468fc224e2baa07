# src/cli: the mfr command. One file per command; mfr.c holds the table.
bin_PROGRAMS += mfr
mfr_SOURCES = src/cli/mfr.c src/cli/cli.h src/cli/common.c src/cli/cmd_info.c \
	src/cli/cmd_gen.c src/cli/cmd_mask.c src/cli/cmd_detect.c src/cli/cmd_embed.c \
	src/cli/cmd_eval.c src/cli/cmd_report.c src/cli/cmd_train.c src/cli/cmd_bench.c src/cli/bench_cli.h \
	src/cli/cmd_run.c
mfr_LDADD = $(MFR_LINK_LIBS)
mfr_LDFLAGS = $(STATIC_PROG_FLAGS)
dist_man_MANS += man/mfr.1
