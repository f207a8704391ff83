/* Everything a program needs to drive distro's runtime. */
#ifndef DISTRO_DISTRO_H
#define DISTRO_DISTRO_H

#include "distro/error.h"
#include "distro/runtime.h"
#include "distro/demo_plan.h"
#include "distro/ops.h"

#endif
