'use strict';
// The peer opsbot-bench measures opsbot against: Bolt for JavaScript, the
// official framework, in Socket Mode, answering every slash command inside
// its ack (`ack(payload)`), as Bolt's documentation shows. opsbot-bench runs
// it against the fake Slack: both the Web API client (auth.test) and the
// Socket Mode client (apps.connections.open) go to SLACK_API_URL.
//
// Environment: SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_API_URL (ending in /),
// BENCH_ANSWER (the ack payload as JSON, the same one opsbot sends).
const { App, LogLevel } = require('@slack/bolt');

const answer = JSON.parse(process.env.BENCH_ANSWER || '{"response_type":"ephemeral","text":"ok"}');

const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  appToken: process.env.SLACK_APP_TOKEN,
  socketMode: true,
  logLevel: LogLevel.ERROR,
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
});

app.command(/.*/, async ({ ack }) => {
  await ack(answer);
});

async function main() {
  await app.start();
  console.log('bolt: connected');
}

process.on('SIGTERM', () => {
  app.stop().finally(() => process.exit(0));
});

main().catch((err) => {
  console.error('bolt:', err);
  process.exit(1);
});
