<?php
// The users of the test IdP: "user:password" => attributes (every value is a list).
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
        'alice:alice-pass' => [
            'uid' => ['alice'],
            'email' => ['alice@example.com'],
            'displayName' => ['Alice Example'],
            'groups' => ['pay-ops', 'staff', 'AWS-123456789012-Deployer'],
        ],
        'bob:bob-pass' => [
            'uid' => ['bob'],
            'email' => ['bob@example.com'],
            'displayName' => ['Bob'],
            'groups' => ['staff'],
        ],
        // Claims an e-mail-like uid that names someone else.
        'mallory:mallory-pass' => [
            'uid' => ['admin@example.com'],
            'groups' => ['staff'],
        ],
    ],
];
