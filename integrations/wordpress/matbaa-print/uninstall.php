<?php
// Removing the plugin removes its two settings and nothing else.
if (!defined('WP_UNINSTALL_PLUGIN')) {
    exit;
}
delete_option('matbaa_print_service_url');
delete_option('matbaa_print_api_key');
