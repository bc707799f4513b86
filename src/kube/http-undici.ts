/**
 * The undici side of src/kube/http.ts, imported only when a proxy is configured (undici tunnels
 * through http(s) CONNECT and SOCKS 5 proxies) or a test hands in a dispatcher (MockAgent).
 */
import { ProxyAgent, Socks5ProxyAgent, request, type Dispatcher } from 'undici';
import { UsageError } from '../shared/errors.js';
import type { ApiServerTls } from './credentials.js';
import { sharedContext, withDeadline, type HttpAnswer, type HttpExchange, type HttpPool } from './http.js';

/** An undici dispatcher (a keep-alive pool) that connects through `proxyUrl` (http(s) or SOCKS 5). */
export function proxyDispatcher(proxyUrl: string, tls: ApiServerTls): Dispatcher {
  const connect = sharedContext(tls);
  if (/^socks5?h?:/i.test(proxyUrl)) {
    // undici reads requestTls (TLS to the target through the tunnel) but its types do not declare it.
    const options = { requestTls: connect } as Socks5ProxyAgent.Options;
    return new Socks5ProxyAgent(proxyUrl.replace(/^socks5?h?:/i, 'socks5:'), options);
  }
  if (!/^https?:/i.test(proxyUrl)) {
    throw new UsageError(`proxy ${proxyUrl} is neither an http(s) nor a SOCKS 5 proxy`, 'fix the proxy-url or HTTPS_PROXY/HTTP_PROXY');
  }
  return new ProxyAgent({ uri: proxyUrl, requestTls: connect });
}

export class UndiciPool implements HttpPool {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly owned: boolean,
  ) {}

  send(url: string, exchange: HttpExchange): Promise<HttpAnswer> {
    return withDeadline(exchange, async (signal) => {
      const response = await request(url, {
        dispatcher: this.dispatcher,
        method: exchange.method,
        headers: exchange.headers,
        body: exchange.body ?? null,
        signal,
      });
      return { status: response.statusCode, text: await response.body.text() };
    });
  }

  async close(): Promise<void> {
    if (this.owned) await this.dispatcher.close();
  }
}
