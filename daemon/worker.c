/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder until the worker lands (see worker-protocol.h). */
int main(void)
{
        return 1;
}
