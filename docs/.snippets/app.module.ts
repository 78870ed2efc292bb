import { ClientCertModule } from '@clientcert/nestjs'
import { Module } from '@nestjs/common'

@Module({ imports: [ClientCertModule.forRoot({ identity: 'cn', allow: { authenticated: true } })] })
export class AppModule {}
