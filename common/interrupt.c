/* interrupt.c - Ctrl-C as a flag (interrupt.h). */
#include "interrupt.h"

#include <signal.h>
#include <stddef.h>

/* The one piece of state a signal handler may touch. */
static volatile sig_atomic_t pending;
static struct sigaction before;

static void on_interrupt(int sig)
{
    (void)sig;
    pending = 1;
}

int interrupt_catch(int on)
{
    struct sigaction sa = { .sa_handler = on_interrupt };

    pending = 0;
    if (!on)
        return sigaction(SIGINT, &before, NULL);
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, &before);
}

int interrupt_pending(void)
{
    return pending != 0;
}
