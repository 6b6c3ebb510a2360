/** The cdktf app: one stack per environment, named after it (`cdktf deploy staging`). */
import { App } from 'cdktf';
import { environments } from './config/environments';
import { loadEnvironment } from './config/load';
import { WeeBeeTalkStack } from './constructs/weebeetalk-stack';

export function buildApp(app: App = new App()): App {
  for (const file of environments) new WeeBeeTalkStack(app, file.name, { config: loadEnvironment(file) });
  return app;
}

if (require.main === module) buildApp().synth();
