<?php
// Runs PHP code given on standard input inside the test site (wp-load.php loaded),
// for tests that change the site: edit a post, unpublish it, switch pretty links off.
$_SERVER['HTTP_HOST'] = parse_url(getenv('MATBAA_WP_URL'), PHP_URL_HOST);
$_SERVER['WORDPRESS_CONFIG'] = getenv('MATBAA_WP_CONFIG');
$_SERVER['REQUEST_URI'] = '/';
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
eval(stream_get_contents(STDIN));
