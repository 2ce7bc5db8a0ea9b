/**
 * The platform conformance suite (suite.ts) through the Slack app and the fake Slack: in Socket Mode
 * (answers streamed) and in HTTP mode against a Slack without streaming (answers edited in).
 */
import { SlackDriver } from './drivers/slack.js';
import { conformanceSuite } from './suite.js';

conformanceSuite('Slack, Socket Mode', (setup) => SlackDriver.start(setup, 'socket'));
conformanceSuite('Slack, HTTP mode', (setup) => SlackDriver.start(setup, 'http'));
