# src/img: the image type, codecs (PNG, JPEG, PNM), conversions, geometry and
# drawing. See docs/img.md.
pkginclude_HEADERS += include/mfr/img.h
libmfr_la_SOURCES += \
	src/img/image.c src/img/codec.c src/img/codec.h src/img/png.c src/img/jpeg.c src/img/pnm.c \
	src/img/convert.c src/img/resize.c src/img/warp.c src/img/crop.c src/img/draw.c

if HAVE_CHECK
check_PROGRAMS += tests/test_img
tests_test_img_SOURCES = tests/test_img.c tests/testutil.c tests/testutil.h
tests_test_img_CFLAGS = $(TEST_COMPILE_FLAGS)
tests_test_img_LDADD = $(TEST_LINK_LIBS)
tests_test_img_LDFLAGS = $(STATIC_PROG_FLAGS)
TESTS += tests/test_img
endif
