# Shared test infrastructure. Each module's suite is added by its own local.mk:
#   check_PROGRAMS += tests/test_foo
#   tests_test_foo_SOURCES = tests/test_foo.c tests/testutil.c tests/testutil.h
#   tests_test_foo_CFLAGS = $(TEST_COMPILE_FLAGS)
#   tests_test_foo_LDADD = $(TEST_LINK_LIBS)
#   tests_test_foo_LDFLAGS = $(STATIC_PROG_FLAGS)
#   TESTS += tests/test_foo
# Tests are only built where Check was found; elsewhere 'make check' says why.
if !HAVE_CHECK
check-local:
	@echo "mfr: 'make check' needs the Check library: apt-get install check, then re-run ./configure" >&2; exit 1
endif
EXTRA_DIST += tests/data
