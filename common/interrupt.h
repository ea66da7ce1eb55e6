/* interrupt.h - Ctrl-C during a transfer, as a flag the transfer looks at.
 *
 * A client killed by SIGINT in the middle of a download says nothing about
 * the bytes it kept; caught, the transfer stops where it is and the client
 * says what was kept and how to go on (as rsync and curl do). A signal
 * handler can only set a flag: this is it. Nothing here prints or exits. */
#ifndef NIANBAO_INTERRUPT_H
#define NIANBAO_INTERRUPT_H

/* ON = 1: SIGINT sets the flag (cleared now), without SA_RESTART, so a
 * recv or poll waiting for the peer returns EINTR and the caller looks at
 * the flag; ON = 0: SIGINT does again what it did before. Returns 0, or
 * -1 with errno set (sigaction failed: Ctrl-C then kills as before). */
int interrupt_catch(int on);

/* 1 once SIGINT came while caught, else 0. */
int interrupt_pending(void);

#endif
