/* Subcommands of distro-cli; each takes the arguments after its name and
 * returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef DISTRO_CLI_COMMANDS_H
#define DISTRO_CLI_COMMANDS_H

int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_coordinator(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
