# tools/storm_parts/storm.mk - storm's parts, included by the Makefile. tools/storm
# is built by the Makefile's rule for every tools/*.c (tools/storm.c is its
# command line); these lines add the parts it links (storm.h lists them).

STORM_OBJ := $(patsubst %.c,%.o,$(wildcard tools/storm_parts/*.c))

tools/storm: $(STORM_OBJ)
tools/storm: LDLIBS += $(STORM_OBJ) $(COMMON_LIB) $(CJSON_LIBS) $(CRYPTO_LIBS)
