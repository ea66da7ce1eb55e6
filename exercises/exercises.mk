# exercises/exercises.mk - the exercises' C programs (issue 11), included by
# the Makefile. They are what a student writes: plain POSIX C, no lab
# library, one file each.
#
#   exercises/stage{3,4}/{client,server}   the starters, framing left to write
#   exercises/stage6/server                the stage 6 starter, serving many
#                                          clients at once left to write
#   exercises/broken/client3-BUG           client3.c built once per bug
#   exercises/broken/server3-BUG           server3.c built once per bug

EXERCISE_STARTERS := exercises/stage3/client exercises/stage3/server \
                     exercises/stage4/client exercises/stage4/server \
                     exercises/stage6/server
EXERCISE_CLIENT3_BUGS := none recv4-once one-recv no-eof byte-order off-by-one
EXERCISE_SERVER3_BUGS := none byte-order no-eof dies-on-close
EXERCISE_BROKEN := $(EXERCISE_CLIENT3_BUGS:%=exercises/broken/client3-%) \
                   $(EXERCISE_SERVER3_BUGS:%=exercises/broken/server3-%)

all: exercises-all
exercises-all: $(EXERCISE_STARTERS) $(EXERCISE_BROKEN)

exercises/stage3/client exercises/stage3/server exercises/stage4/server: %: %.c
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $<

exercises/stage4/client: exercises/stage4/client.c
	$(CC) $(WARN) $(CJSON_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(CJSON_LIBS)

exercises/stage6/server: exercises/stage6/server.c
	$(CC) $(WARN) $(CJSON_CFLAGS) $(CRYPTO_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(CJSON_LIBS) $(CRYPTO_LIBS)

# "recv4-once" -> -DBUG_RECV4_ONCE; "none" -> no bug.
exercise_bug = $(if $(filter none,$(1)),,-DBUG_$(shell echo '$(1)' | tr 'a-z-' 'A-Z_'))

exercises/broken/client3-%: exercises/broken/client3.c
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) $(call exercise_bug,$*) -o $@ $<

exercises/broken/server3-%: exercises/broken/server3.c
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) $(call exercise_bug,$*) -o $@ $<

clean: clean-exercises
clean-exercises:
	rm -f $(EXERCISE_STARTERS) $(EXERCISE_BROKEN)

.PHONY: exercises-all clean-exercises
