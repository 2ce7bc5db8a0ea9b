/** /imagine on SDXL and SDXL-Turbo exports (image-model-suite.ts) through the Slack app (Socket Mode) and the fake Slack. */
import { SlackDriver } from './drivers/slack.js';
import { imageModelSuite } from './image-model-suite.js';

imageModelSuite('Slack', (setup) => SlackDriver.start(setup, 'socket'));
