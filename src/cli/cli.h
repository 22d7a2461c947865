/*
 * facerec command-line commands. Each takes the arguments after its own name
 * (argv[0] is the first option or operand, not the command name), prints
 * results to stdout and errors to stderr, and returns the process exit code:
 * 0 success, 1 failure (a file, the models, the gallery), 2 usage error.
 * main.c holds the table that dispatches to them.
 */
#ifndef FR_CLI_CLI_H
#define FR_CLI_CLI_H

int fr_cli_detect(int argc, char **argv);    /* cmd_detect.c */
int fr_cli_embed(int argc, char **argv);     /* cmd_embed.c */
int fr_cli_compare(int argc, char **argv);   /* cmd_compare.c */
int fr_cli_enroll(int argc, char **argv);    /* cmd_enroll.c */
int fr_cli_recognize(int argc, char **argv); /* cmd_recognize.c */
int fr_cli_video(int argc, char **argv);     /* cmd_video.c */
int fr_cli_subjects(int argc, char **argv);  /* cmd_subjects.c */
int fr_cli_eval(int argc, char **argv);      /* cmd_eval.c */
int fr_cli_serve(int argc, char **argv);     /* src/cli/cmd_serve.c */
int fr_cli_keys(int argc, char **argv);      /* src/cli/cmd_serve.c */

#endif
