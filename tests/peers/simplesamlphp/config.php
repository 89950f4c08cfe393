<?php
// SimpleSAMLphp 1.19 (Debian's /usr/share/simplesamlphp) as a throwaway upstream SAML IdP for
// the test suite: tests/api/peers/simplesamlphp.rs copies this folder into a temp dir, points
// SIMPLESAMLPHP_CONFIG_DIR at it and replaces @PORT@. Every path stays inside that temp dir
// (__DIR__); nothing is read from or written to /etc/simplesamlphp.
$config = [
    'baseurlpath' => 'http://127.0.0.1:@PORT@/',
    'certdir' => __DIR__ . '/cert/',
    'loggingdir' => __DIR__ . '/log/',
    'datadir' => __DIR__ . '/data/',
    'tempdir' => __DIR__ . '/tmp/',
    'metadatadir' => __DIR__ . '/metadata/',
    'metadata.sources' => [['type' => 'flatfile']],

    'secretsalt' => 'fedbroker-test-salt-not-secret',
    'auth.adminpassword' => 'ssp-admin-pw',
    'admin.checkforupdates' => false, // no calls to github.com
    'technicalcontact_name' => 'fedbroker tests',
    'technicalcontact_email' => 'tests@example.com',
    'timezone' => 'UTC',

    // The log the Rust harness shows in assertion messages (SimpleSamlPhp::log).
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'logging.level' => SimpleSAML\Logger::INFO,
    'showerrors' => true,
    'errorreporting' => false,
    'debug' => ['saml' => false, 'backtraces' => true, 'validatexml' => false],

    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],

    // Plain http on loopback: no Secure cookies (SimpleSAMLphp refuses them on http), no
    // SameSite=None (browsers drop it without Secure); the default (Lax) is enough, the IdP's
    // pages post only to themselves.
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => __DIR__ . '/sessions',
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'language.cookie.secure' => false,
    'language.cookie.samesite' => null,

    // Redirects (ReturnTo, RelayState) to any loopback port, e.g. the broker's.
    'trusted.url.regex' => true,
    'trusted.url.domains' => ['(127\.0\.0\.1|localhost)(:[0-9]+)?'],
];
