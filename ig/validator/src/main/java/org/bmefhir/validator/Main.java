package org.bmefhir.validator;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.hl7.fhir.r5.elementmodel.Manager.FhirFormat;
import org.hl7.fhir.r5.model.OperationOutcome;
import org.hl7.fhir.utilities.json.JsonException;
import org.hl7.fhir.utilities.json.model.JsonObject;
import org.hl7.fhir.utilities.json.parser.JsonParser;
import org.hl7.fhir.utilities.validation.ValidationMessage;
import org.hl7.fhir.validation.IgLoader;
import org.hl7.fhir.validation.ValidationEngine;

/**
 * Validate every {@code *.json} resource under a folder with the HL7 FHIR validator, in one JVM.
 *
 * <pre>java -Duser.home=HOME -cp 'classes:lib/*' org.bmefhir.validator.Main HOME PROFILES_DIR INPUT_DIR</pre>
 *
 * HOME/.fhir/packages receives the FHIR R4 core package, assembled from the hapi-fhir-validation-resources-r4
 * jar on the classpath (XML Bundles: profiles, extensions, value sets, code systems); the engine
 * loads it from there as its core, offline, with no terminology server. PROFILES_DIR (bmefhir's profiles/)
 * is loaded as an IG. Each resource is validated against base R4 and the profiles it claims in
 * meta.profile; more folders of definitions may follow (e.g. a terminology stand-in). One JSON line per file on stdout: file, resourceType, issues (severity, type,
 * location, message, messageId).
 */
public final class Main {
  private static final String CORE = "org/hl7/fhir/r4/model/";
  static final String CORE_PACKAGE = "hl7.fhir.r4.core";
  static final String CORE_VERSION = "4.0.1";
  // ValidationEngine.initContext always loads this package (cross-version extensions, e.g.
  // http://hl7.org/fhir/5.0/StructureDefinition/extension-...). It is only on the FHIR package
  // registry; bmefhir uses no cross-version extension, so an empty package stands in, and any
  // use of one is reported as an unknown extension.
  static final String XVER_PACKAGE = "hl7.fhir.xver-extensions";
  static final String XVER_VERSION = "0.1.0";
  private static final String[] CORE_FILES = {
    "profile/profiles-types.xml",
    "profile/profiles-resources.xml",
    "profile/profiles-others.xml",
    "extension/extension-definitions.xml",
    "valueset/valuesets.xml",
    "valueset/v3-codesystems.xml",
    "valueset/v2-tables.xml",
  };

  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: Main HOME PROFILES_DIR INPUT_DIR [EXTRA_DEFINITIONS_DIR...]");
      System.exit(2);
    }
    Path home = Path.of(args[0]).toAbsolutePath();
    assembleCore(home);
    if (!home.equals(Path.of(System.getProperty("user.home")).toAbsolutePath())) {
      System.err.println("run with -Duser.home=" + home + " so that the validator's package cache is the assembled one");
      System.exit(2);
    }
    ValidationEngine engine =
        new ValidationEngine.ValidationEngineBuilder()
            .withVersion(CORE_VERSION)
            .withNoTerminologyServer()
            .withCanRunWithoutTerminologyServer(true)
            .withUserAgent("bmefhir-validator")
            .fromSource(CORE_PACKAGE + "#" + CORE_VERSION);
    IgLoader loader = new IgLoader(engine.getPcm(), engine.getContext(), engine.getVersion(), engine.isDebug());
    loader.loadIg(engine.getIgs(), engine.getBinaries(), args[1], true);
    for (int i = 3; i < args.length; i++) {
      loader.loadIg(engine.getIgs(), engine.getBinaries(), args[i], true);
    }
    // urn:ietf:bcp:13 (Attachment.contentType, required binding to ValueSet/mimetypes, which includes
    // the whole system): without a terminology server the engine knows no definition of it and
    // reports every media type as an error. The IANA registry, as a complete CodeSystem, lets the
    // engine's own value-set check decide: a registered type passes, anything else is an error.
    engine.getContext().cacheResource(ianaMediaTypes());
    engine.setAnyExtensionsAllowed(false);
    // References to the EHR's resources (Patient/x, Observation/y) are not resolvable here; their
    // type is still checked from the literal. urn:uuid references resolve inside the Bundle.
    engine.setAssumeValidRestReferences(true);
    engine.setPolicyAdvisor(
        new org.hl7.fhir.validation.instance.advisor.BasePolicyAdvisorForFullValidation(
            org.hl7.fhir.r5.utils.validation.constants.ReferenceValidationPolicy.CHECK_TYPE_IF_EXISTS));
    engine.prepare();

    List<Path> files;
    try (Stream<Path> walk = Files.walk(Path.of(args[2]))) {
      files = walk.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    for (Path file : files) {
      byte[] bytes = Files.readAllBytes(file);
      String type = resourceType(bytes);
      List<ValidationMessage> messages = new ArrayList<>();
      OperationOutcome outcome = engine.validate(bytes, FhirFormat.JSON, List.of(), messages);
      JsonObject line = new JsonObject();
      line.add("file", file.toString());
      line.add("resourceType", type);
      org.hl7.fhir.utilities.json.model.JsonArray issues = new org.hl7.fhir.utilities.json.model.JsonArray();
      for (OperationOutcome.OperationOutcomeIssueComponent issue : outcome.getIssue()) {
        JsonObject i = new JsonObject();
        i.add("severity", issue.getSeverity().toCode());
        i.add("type", issue.getCode().toCode());
        i.add("location", issue.getExpression().isEmpty() ? "" : issue.getExpression().get(0).asStringValue());
        i.add("message", issue.getDetails().getText());
        String id = issue.getExtensionString("http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id");
        i.add("messageId", id == null ? "" : id);
        issues.add(i);
      }
      line.add("issues", issues);
      out.println(JsonParser.compose(line, false));
    }
  }

  static final String MIME_DB = "META-INF/resources/webjars/mime-db/";
  static final String MIME_DB_POM = "META-INF/maven/org.webjars.npm/mime-db/pom.properties";

  /**
   * The IANA media types registry as the CodeSystem {@code urn:ietf:bcp:13}, content complete, from
   * the npm package mime-db (org.webjars.npm:mime-db on Maven Central): the entries whose source is
   * "iana" are the types registered with IANA (mime-db builds them from the IANA registry). Case
   * insensitive (RFC 6838 section 4.2). Media-type parameters ({@code ; charset=...}) are not
   * modelled: a contentType with parameters would be reported, and bmefhir writes none.
   */
  static org.hl7.fhir.r5.model.CodeSystem ianaMediaTypes() throws IOException {
    ClassLoader cl = Main.class.getClassLoader();
    java.util.Properties pom = new java.util.Properties();
    try (InputStream in = cl.getResourceAsStream(MIME_DB_POM)) {
      if (in == null) {
        throw new IOException("not on the classpath: " + MIME_DB_POM + " (org.webjars.npm:mime-db)");
      }
      pom.load(in);
    }
    String version = pom.getProperty("version");
    JsonObject db;
    try (InputStream in = cl.getResourceAsStream(MIME_DB + version + "/db.json")) {
      if (in == null) {
        throw new IOException("not on the classpath: " + MIME_DB + version + "/db.json");
      }
      db = JsonParser.parseObject(in);
    }
    org.hl7.fhir.r5.model.CodeSystem cs = new org.hl7.fhir.r5.model.CodeSystem();
    cs.setId("ietf-bcp-13");
    cs.setUrl("urn:ietf:bcp:13");
    cs.setVersion("mime-db-" + version);
    cs.setName("IanaMediaTypes");
    cs.setTitle("IANA media types (BCP 13), registered types from mime-db " + version);
    cs.setStatus(org.hl7.fhir.r5.model.Enumerations.PublicationStatus.ACTIVE);
    cs.setCaseSensitive(false);
    cs.setContent(org.hl7.fhir.r5.model.Enumerations.CodeSystemContentMode.COMPLETE);
    for (String type : db.getNames()) {
      JsonObject entry = db.getJsonObject(type);
      if ("iana".equals(entry.asString("source"))) {
        cs.addConcept().setCode(type);
      }
    }
    if (cs.getConcept().size() < 1000) {
      throw new IOException("mime-db " + version + ": only " + cs.getConcept().size() + " IANA media types");
    }
    return cs;
  }

  private static String resourceType(byte[] bytes) {
    try {
      JsonObject json = JsonParser.parseObject(bytes);
      return json.asString("resourceType");
    } catch (IOException | JsonException e) {
      return "";
    }
  }

  /**
   * Assemble the FHIR R4 core package (hl7.fhir.r4.core#4.0.1) in the package cache under
   * {@code home/.fhir/packages} from the XML Bundles of the hapi-fhir-validation-resources-r4 jar on
   * the classpath: one JSON file per resource, package.json and .index.json. The validator then finds
   * the core in its cache and never asks a package server.
   */
  static Path assembleCore(Path home) throws IOException {
    Path cache = home.resolve(".fhir").resolve("packages");
    placeholder(cache, XVER_PACKAGE, XVER_VERSION);
    Path pkg = cache.resolve(CORE_PACKAGE + "#" + CORE_VERSION).resolve("package");
    if (Files.exists(pkg.resolve(".index.json"))) {
      return cache;
    }
    Path tmp = Files.createTempDirectory(cache.getParent() == null ? home : Files.createDirectories(cache), "core");
    Path dir = Files.createDirectories(tmp.resolve("package"));
    ClassLoader cl = Main.class.getClassLoader();
    org.hl7.fhir.r4.formats.XmlParser xml = new org.hl7.fhir.r4.formats.XmlParser();
    org.hl7.fhir.r4.formats.JsonParser json = new org.hl7.fhir.r4.formats.JsonParser();
    org.hl7.fhir.utilities.json.model.JsonArray index = new org.hl7.fhir.utilities.json.model.JsonArray();
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (String name : CORE_FILES) {
      try (InputStream in = cl.getResourceAsStream(CORE + name)) {
        if (in == null) {
          throw new IOException("not on the classpath: " + CORE + name + " (hapi-fhir-validation-resources-r4)");
        }
        org.hl7.fhir.r4.model.Bundle bundle = (org.hl7.fhir.r4.model.Bundle) xml.parse(in);
        for (org.hl7.fhir.r4.model.Bundle.BundleEntryComponent e : bundle.getEntry()) {
          org.hl7.fhir.r4.model.Resource r = e.getResource();
          if (r == null || !r.hasIdElement()) {
            continue;
          }
          String file = r.fhirType() + "-" + r.getIdElement().getIdPart() + ".json";
          if (!seen.add(file)) {
            continue; // the same resource in two bundles
          }
          Files.write(dir.resolve(file), json.composeBytes(r));
          JsonObject entry = new JsonObject();
          entry.add("filename", file);
          entry.add("resourceType", r.fhirType());
          entry.add("id", r.getIdElement().getIdPart());
          if (r instanceof org.hl7.fhir.r4.model.MetadataResource m) {
            if (m.hasUrl()) {
              entry.add("url", m.getUrl());
            }
            if (m.hasVersion()) {
              entry.add("version", m.getVersion());
            }
          }
          if (r instanceof org.hl7.fhir.r4.model.StructureDefinition sd) {
            entry.add("kind", sd.getKind().toCode());
            entry.add("type", sd.getType());
            if (sd.hasDerivation()) {
              entry.add("derivation", sd.getDerivation().toCode());
            }
          }
          index.add(entry);
        }
      }
    }
    JsonObject idx = new JsonObject();
    idx.add("index-version", 2);
    idx.add("files", index);
    Files.writeString(dir.resolve(".index.json"), JsonParser.compose(idx, false));
    JsonObject manifest = new JsonObject();
    manifest.add("name", CORE_PACKAGE);
    manifest.add("version", CORE_VERSION);
    manifest.add("type", "Core");
    manifest.add("canonical", "http://hl7.org/fhir");
    manifest.add("description", "FHIR R4 core definitions, assembled from ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4");
    org.hl7.fhir.utilities.json.model.JsonArray versions = new org.hl7.fhir.utilities.json.model.JsonArray();
    versions.add(CORE_VERSION);
    manifest.add("fhirVersions", versions);
    Files.writeString(dir.resolve("package.json"), JsonParser.compose(manifest, true));
    Path target = cache.resolve(CORE_PACKAGE + "#" + CORE_VERSION);
    Files.createDirectories(cache);
    Files.move(tmp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    return cache;
  }

  /** An empty package ``id#version`` in the cache (see XVER_PACKAGE). */
  private static void placeholder(Path cache, String id, String version) throws IOException {
    Path dir = cache.resolve(id + "#" + version).resolve("package");
    if (Files.exists(dir.resolve(".index.json"))) {
      return;
    }
    Files.createDirectories(dir);
    JsonObject manifest = new JsonObject();
    manifest.add("name", id);
    manifest.add("version", version);
    manifest.add("type", "IG");
    manifest.add("description", "Empty stand-in, assembled by bmefhir's validator runner (no package registry)");
    org.hl7.fhir.utilities.json.model.JsonArray versions = new org.hl7.fhir.utilities.json.model.JsonArray();
    versions.add(CORE_VERSION);
    manifest.add("fhirVersions", versions);
    Files.writeString(dir.resolve("package.json"), JsonParser.compose(manifest, true));
    JsonObject idx = new JsonObject();
    idx.add("index-version", 2);
    idx.add("files", new org.hl7.fhir.utilities.json.model.JsonArray());
    Files.writeString(dir.resolve(".index.json"), JsonParser.compose(idx, false));
  }
}
