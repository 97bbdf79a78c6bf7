package io.bmefhir.sandbox;

import ca.uhn.fhir.rest.server.RestfulServer;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

/**
 * Entry point: {@code java -cp 'classes:lib/*' io.bmefhir.sandbox.SandboxMain --port 8080}.
 *
 * <p>Serves FHIR R4 at {@code http://127.0.0.1:PORT/fhir}, loopback only. The
 * database is an in-memory H2, so every start is clean, unless
 * {@code -Dsandbox.db.url=jdbc:postgresql://...} names a PostgreSQL database
 * (see SandboxConfig). Stops on SIGTERM/SIGINT.
 */
public final class SandboxMain {
	private static final Logger LOG = LoggerFactory.getLogger(SandboxMain.class);

	private SandboxMain() {}

	public static void main(String[] args) throws Exception {
		int port = Integer.getInteger("sandbox.port", 8080);
		String host = System.getProperty("sandbox.host", "127.0.0.1");
		for (int i = 0; i < args.length; i++) {
			if ("--port".equals(args[i]) && i + 1 < args.length) {
				port = Integer.parseInt(args[++i]);
			} else if ("--host".equals(args[i]) && i + 1 < args.length) {
				host = args[++i];
			} else {
				throw new IllegalArgumentException("unknown argument: " + args[i]);
			}
		}
		long t0 = System.nanoTime();

		// Bind the port first so that a port clash fails fast, before the slow Spring start.
		Server jetty = new Server();
		ServerConnector connector = new ServerConnector(jetty);
		connector.setHost(host);
		connector.setPort(port);
		jetty.addConnector(connector);
		connector.open();

		AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext();
		spring.register(SandboxConfig.class);
		spring.registerShutdownHook();
		spring.refresh();

		RestfulServer fhir = spring.getBean(RestfulServer.class);
		ServletContextHandler context = new ServletContextHandler();
		context.setContextPath("/");
		ServletHolder holder = new ServletHolder("fhir", fhir);
		holder.setInitOrder(1);
		context.addServlet(holder, "/fhir/*");
		jetty.setHandler(context);
		jetty.setStopAtShutdown(true);
		jetty.start();

		LOG.info("bmefhir sandbox ready at http://{}:{}/fhir (started in {} ms)",
				host, port, (System.nanoTime() - t0) / 1_000_000);
		jetty.join();
	}
}
