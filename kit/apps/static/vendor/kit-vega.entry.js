// The parts of Vega the kit's dashboard page uses, in one CSP-safe browser script.
import { parse, View, formatLocale, version as vegaVersion } from "vega";
import { compile, version as vegaLiteVersion } from "vega-lite";
import { expressionInterpreter } from "vega-interpreter";
window.kitVega = { parse, View, formatLocale, compile, expressionInterpreter, vegaVersion, vegaLiteVersion };
