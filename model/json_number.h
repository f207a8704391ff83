/* Numbers written into JSON so that they read back to the same value.
 * cJSON prints a double with 15 significant digits whenever they read back
 * within a relative DBL_EPSILON, not exactly (0.1 + 0.2 prints as 0.3), so
 * a config would change on its way through text: a checkpoint would resume
 * with another rope_theta, a seed near 9e15 would move. */
#ifndef DISTRO_MODEL_JSON_NUMBER_H
#define DISTRO_MODEL_JSON_NUMBER_H

#include <cjson/cJSON.h>

/* The shortest of 15..17 significant digits that reads back to the same
 * double (a plain number when v is not finite: JSON has no spelling). */
cJSON *json_number_exact(double v);

/* The shortest decimal that reads back (strtod, then a cast) to the same
 * float: 0.003, not the float's exact double 0.0030000000260770321. */
cJSON *json_number_float(float f);

#endif
