/* Exact JSON numbers (json_number.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/json_number.h"

cJSON *json_number_exact(double v) {
    if (!isfinite(v)) return cJSON_CreateNumber(v);
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    return cJSON_CreateRaw(text);
}

cJSON *json_number_float(float f) {
    if (!isfinite(f)) return cJSON_CreateNumber((double)f);
    char text[40];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)f);
        if ((float)strtod(text, NULL) == f) break;
    }
    return cJSON_CreateRaw(text);
}
