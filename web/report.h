/* report.html: the dashboard's page as one self-contained file, with the
 * style, Chart.js, the state document and the script inlined, so it opens
 * anywhere without a network or a server. */
#ifndef DISTRO_WEB_REPORT_H
#define DISTRO_WEB_REPORT_H

#include "distro/error.h"
#include "web/run_view.h"

/* Written to a temporary file next to path, then renamed over it. */
dt_status web_report_write(run_view *v, const char *path);

#endif
