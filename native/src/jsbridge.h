/* The JS-ops mode's JavaScript surface (jsbridge.c), added to the addon's exports. */
#ifndef MOUNTIE_JSBRIDGE_H
#define MOUNTIE_JSBRIDGE_H

#include <node_api.h>

void jsbridge_define(napi_env env, napi_value exports);

#endif
