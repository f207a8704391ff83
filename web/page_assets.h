/* The page's files, embedded at build time (web/CMakeLists.txt): the
 * dashboard's HTML, script and style, and Chart.js from Debian's
 * libjs-chart.js. Each has a trailing NUL after _size bytes. */
#ifndef DISTRO_WEB_PAGE_ASSETS_H
#define DISTRO_WEB_PAGE_ASSETS_H

extern const unsigned char distro_page_html[], distro_page_js[], distro_page_css[];
extern const unsigned char distro_chartjs[];
extern const unsigned long distro_page_html_size, distro_page_js_size, distro_page_css_size;
extern const unsigned long distro_chartjs_size;

#endif
