/** /imagine on SDXL and SDXL-Turbo exports (image-model-suite.ts) through the web console's HTTP API. */
import { WebDriver } from './drivers/web.js';
import { imageModelSuite } from './image-model-suite.js';

imageModelSuite('web console', (setup) => WebDriver.start(setup));
