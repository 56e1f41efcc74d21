/* The smallest valid plugin (sdv/plugin.h): registers nothing and succeeds. tests/cli-files.sh
 * loads it by a bare file name from the working directory, which must not search the library
 * path. */
int sdv_plugin_init(void);
int sdv_plugin_init(void) { return 0; }
