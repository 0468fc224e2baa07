# src/core: errors, logging, progress, timers, memory, threads, RNG, files, CRC,
# recipes (INI), CSV, number parsing, CPU detection, build info.
pkginclude_HEADERS += include/mfr/core.h include/mfr/mfr.h
libmfr_la_SOURCES += \
	src/core/error.c src/core/progress.c src/core/time.c src/core/memory.c \
	src/core/threads.c src/core/rng.c src/core/file.c src/core/crc.c \
	src/core/ini.c src/core/csv.c src/core/parse.c src/core/cpu.c src/core/build.c

if HAVE_CHECK
check_PROGRAMS += tests/test_core
tests_test_core_SOURCES = tests/test_core.c tests/testutil.c tests/testutil.h
tests_test_core_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_core_LDADD = $(TEST_LINK_LIBS)
tests_test_core_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_core
endif
