package io.bmefhir.sandbox;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.MemoryBinaryStorageSvcImpl;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.narrative2.NullNarrativeGenerator;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import java.util.Properties;
import javax.sql.DataSource;
import org.apache.commons.dbcp2.BasicDataSource;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/**
 * Spring wiring for the sandbox: HAPI's own JPA/R4/batch2 configuration plus the
 * handful of beans an application has to supply itself (storage settings, data
 * source, entity manager factory, transaction manager, RestfulServer).
 */
@Configuration
@Import({
	JpaR4Config.class,
	HapiJpaConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	ThreadPoolFactoryConfig.class,
	// in-JVM message broker used by batch2 (bulk export, reindex) and subscriptions
	SubscriptionChannelConfig.class
})
public class SandboxConfig {

	static final String[] VERSIONED_REFERENCE_PATHS = {"Provenance.target", "Provenance.entity.what"};

	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings s = new JpaStorageSettings();
		// Client-assigned ids (PUT Patient/abc) are allowed with the default
		// ALPHANUMERIC client id strategy; server ids stay sequential numbers.
		s.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ALPHANUMERIC);
		// Tests write then read immediately: never answer a search from a cached result set.
		s.setReuseCachedSearchResultsForMillis(null);
		s.setAllowMultipleDelete(true);
		s.setExpungeEnabled(true);
		s.setDeleteExpungeEnabled(true);
		s.setAllowExternalReferences(true);
		// Bulk export ($export) runs as a batch2 job inside this JVM.
		s.setEnableTaskBulkExportJobExecution(true);
		// Each $export gets a fresh job (no reuse of an identical earlier export's files).
		s.setEnableBulkExportJobReuse(false);
		// Let single-chunk batch2 steps advance without waiting for a maintenance pass.
		s.setJobFastTrackingEnabled(true);
		// bmefhir's Provenance names the exact versions it was concluded from and wrote
		// (docs/output-resources.md). By default HAPI strips versions from stored references and
		// resolves a transaction's urn:uuid to an unversioned Type/id; these paths keep the version,
		// and a reference without one is pinned to the target's current version when stored.
		s.setAutoVersionReferenceAtPaths(VERSIONED_REFERENCE_PATHS);
		return s;
	}

	/**
	 * Batch2 (which runs $export) advances gated jobs on a scheduled maintenance
	 * pass, once a minute by default: an export then takes about two minutes.
	 * Run the pass every second instead (override: -Dsandbox.batch2.maintenanceMillis).
	 */
	@Bean
	public static BeanPostProcessor batch2MaintenanceFrequency() {
		return new BeanPostProcessor() {
			@Override
			public Object postProcessBeforeInitialization(Object bean, String beanName) {
				if (bean instanceof JobMaintenanceServiceImpl svc) {
					svc.setScheduledJobFrequencyMillis(Long.getLong("sandbox.batch2.maintenanceMillis", 1000L));
				}
				return bean;
			}
		};
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	/** In-memory H2 unless {@code -Dsandbox.db.url} names another database (PostgreSQL). */
	static String databaseUrl() {
		return System.getProperty("sandbox.db.url", "jdbc:h2:mem:bmefhir;DB_CLOSE_DELAY=-1");
	}

	static boolean isPostgres() {
		return databaseUrl().startsWith("jdbc:postgresql:");
	}

	@Bean(destroyMethod = "close")
	public BasicDataSource dataSource() {
		BasicDataSource ds = new BasicDataSource();
		String url = databaseUrl();
		if (isPostgres()) {
			ds.setDriver(new org.postgresql.Driver());
			ds.setUsername(System.getProperty("sandbox.db.username", "postgres"));
			// The password comes from the environment, so it is not on the command line (ps).
			String password = System.getenv("SANDBOX_DB_PASSWORD");
			ds.setPassword(password == null ? "" : password);
		} else if (url.startsWith("jdbc:h2:")) {
			// In-memory by default: every JVM start is a clean database.
			ds.setDriver(new org.h2.Driver());
			ds.setUsername("sa");
			ds.setPassword("");
		} else {
			throw new IllegalArgumentException("sandbox.db.url must be jdbc:h2:... or jdbc:postgresql:...");
		}
		ds.setUrl(url);
		ds.setMaxTotal(Integer.getInteger("sandbox.db.maxConnections", 20));
		// Keep every connection once opened: with DBCP's default of 8 idle, bursts of requests
		// closed and reopened PostgreSQL connections (about four per synced patient).
		ds.setMaxIdle(ds.getMaxTotal());
		return ds;
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		Properties p = new Properties();
		// H2 runs HAPI's id look-ups for transactions as row-by-row scans, so it slows down as the
		// database grows (docs/hapi-sandbox.md); PostgreSQL does not.
		p.put("hibernate.dialect",
				(isPostgres() ? HapiFhirPostgresDialect.class : HapiFhirH2Dialect.class).getName());
		p.put("hibernate.hbm2ddl.auto", "update");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.show_sql", "false");
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		p.put("hibernate.cache.use_structured_entries", "false");
		p.put("hibernate.cache.use_minimal_puts", "false");
		p.put("hibernate.search.enabled", "false");
		emf.setJpaProperties(p);
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory emf) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(emf);
		return tm;
	}

	@Bean
	public IBinaryStorageSvc binaryStorage() {
		return new MemoryBinaryStorageSvcImpl();
	}

	@Bean
	public RestfulServer restfulServer(
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviders,
			IJpaSystemProvider systemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			BulkDataExportProvider bulkDataExportProvider,
			ValueSetOperationProvider valueSetOperationProvider) {
		FhirContext ctx = systemDao.getContext();
		ctx.setNarrativeGenerator(new NullNarrativeGenerator());
		ctx.getParserOptions().setDontStripVersionsFromReferencesAtPaths(VERSIONED_REFERENCE_PATHS);

		RestfulServer server = new RestfulServer(ctx);
		server.registerProviders(resourceProviders.createProviders());
		server.registerProvider(systemProvider);
		server.registerProvider(bulkDataExportProvider);
		server.registerProvider(valueSetOperationProvider);

		JpaCapabilityStatementProvider cap = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		cap.setImplementationDescription("bmefhir HAPI FHIR R4 sandbox");
		server.setServerConformanceProvider(cap);

		// HAPI's own defaults are 10 and 50 (BasePagingProvider, 8.6.5); 500 is this sandbox's choice.
		// -Dsandbox.maxPageSize: a larger cap, for measuring what it costs (docs/performance.md).
		pagingProvider.setDefaultPageSize(20);
		pagingProvider.setMaximumPageSize(Integer.getInteger("sandbox.maxPageSize", 500));
		server.setPagingProvider(pagingProvider);
		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		server.setServerAddressStrategy(new IncomingRequestAddressStrategy());
		if (Boolean.parseBoolean(System.getProperty("sandbox.ifMatch412", "true"))) {
			server.registerInterceptor(new IfMatchPreconditionInterceptor());
		}
		return server;
	}
}
