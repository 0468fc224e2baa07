# fuzz: libFuzzer targets (./configure CC=clang --enable-fuzzing), run by
# fuzz/run.sh SECONDS. Each target fuzz/fuzz_NAME has its seed corpus in
# fuzz/corpus/NAME/ and optionally a dictionary fuzz/NAME.dict. Other
# modules add theirs from their own local.mk in the same way.
FUZZ_COMPILE_FLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
FUZZ_LINK_FLAGS = $(STATIC_PROG_FLAGS) -fsanitize=fuzzer

if ENABLE_FUZZING
noinst_PROGRAMS += fuzz/fuzz_image fuzz/fuzz_draw fuzz/fuzz_ini fuzz/fuzz_csv
fuzz_fuzz_image_SOURCES = fuzz/fuzz_image.c
fuzz_fuzz_image_CFLAGS = $(FUZZ_COMPILE_FLAGS)
fuzz_fuzz_image_LDADD = $(MFR_LINK_LIBS)
fuzz_fuzz_image_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_draw_SOURCES = fuzz/fuzz_draw.c
fuzz_fuzz_draw_CFLAGS = $(FUZZ_COMPILE_FLAGS)
fuzz_fuzz_draw_LDADD = $(MFR_LINK_LIBS)
fuzz_fuzz_draw_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_ini_SOURCES = fuzz/fuzz_ini.c
fuzz_fuzz_ini_CFLAGS = $(FUZZ_COMPILE_FLAGS)
fuzz_fuzz_ini_LDADD = $(MFR_LINK_LIBS)
fuzz_fuzz_ini_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_csv_SOURCES = fuzz/fuzz_csv.c
fuzz_fuzz_csv_CFLAGS = $(FUZZ_COMPILE_FLAGS)
fuzz_fuzz_csv_LDADD = $(MFR_LINK_LIBS)
fuzz_fuzz_csv_LDFLAGS = $(FUZZ_LINK_FLAGS)
endif
EXTRA_DIST += fuzz/run.sh fuzz/corpus fuzz/image.dict
