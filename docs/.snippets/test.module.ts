export { AppModule as TestModule } from './app.module.js'
