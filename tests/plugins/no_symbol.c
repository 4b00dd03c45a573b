/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* A valid shared object that is not a vacataire plugin: it exports no vacataire_plugin symbol. */
int not_a_vacataire_plugin(void);

int not_a_vacataire_plugin(void)
{
        return 42;
}
