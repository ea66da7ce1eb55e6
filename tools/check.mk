# tools/check.mk - the sanitizer and valgrind runs of the suite (issue 8),
# included by the Makefile. Both build and run in a temporary copy of the
# tree: nothing here leaves an object in it.
#
#   make check-asan       the whole bats suite (both tiers), ASan + UBSan build
#   make check-valgrind   the clients, servers and viewer under memcheck

check-asan: deps
	@tools/check-asan.sh

check-valgrind: deps
	@tools/check-valgrind.sh

.PHONY: check-asan check-valgrind

