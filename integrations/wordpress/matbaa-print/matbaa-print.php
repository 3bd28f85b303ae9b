<?php
/**
 * Plugin Name:       Matbaa Print · مطبعة
 * Description:       «تنزيل PDF» and «طباعة» buttons under each post, served by a Matbaa print service. Tells Matbaa when a post is published, updated or unpublished, so its PDF is ready before the first reader asks.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      7.4
 * License:           MIT
 * Text Domain:       matbaa-print
 *
 * Nothing else: no tracking, no external script or style, no data sent
 * anywhere but to the Matbaa service the site's administrator names.
 */

if (!defined('ABSPATH')) {
    exit;
}

const MATBAA_PRINT_URL_OPTION = 'matbaa_print_service_url';
const MATBAA_PRINT_KEY_OPTION = 'matbaa_print_api_key';

/** The service's address without a trailing slash, or '' when not set. */
function matbaa_print_service_url() {
    return untrailingslashit(esc_url_raw((string) get_option(MATBAA_PRINT_URL_OPTION, '')));
}

/* -- The buttons ------------------------------------------------------------ */

add_filter('the_content', 'matbaa_print_buttons', 20);

function matbaa_print_buttons($content) {
    $service = matbaa_print_service_url();
    // Only the post being shown, not others quoted on its page (block themes render
    // content outside "the loop", so in_the_loop() cannot be asked).
    if ($service === '' || !is_singular('post') || get_the_ID() !== get_queried_object_id()) {
        return $content;
    }
    $post = get_post();
    if (!$post || $post->post_status !== 'publish' || post_password_required($post)) {
        return $content;   // Matbaa prints public posts only
    }
    $id = (int) $post->ID;
    $pdf = $service . '/articles/' . $id . '.pdf?download=1';
    $print = $service . '/articles/' . $id . '/print?print=1';
    $buttons = sprintf(
        '<nav class="matbaa-print" dir="rtl" lang="ar" aria-label="%1$s">'
        . '<a class="matbaa-print-pdf" href="%2$s" rel="nofollow" download>%3$s <span lang="en">Download</span></a> '
        . '<a class="matbaa-print-print" href="%4$s" rel="nofollow" target="_blank">%5$s <span lang="en">Print</span></a>'
        . '</nav>',
        esc_attr('طباعة المقال · Print this article'),
        esc_url($pdf), esc_html('تنزيل PDF'),
        esc_url($print), esc_html('طباعة')
    );
    return $content . $buttons;
}

add_action('wp_enqueue_scripts', function () {
    // A few lines of style, inline: no file or font is loaded from anywhere.
    wp_register_style('matbaa-print', false, [], '0.1.0');
    wp_enqueue_style('matbaa-print');
    wp_add_inline_style('matbaa-print',
        '.matbaa-print{display:flex;gap:.5em;margin:1.5em 0}'
        . '.matbaa-print a{display:inline-block;padding:.4em .9em;border:1px solid currentColor;'
        . 'border-radius:.3em;text-decoration:none}'
        . '.matbaa-print a:focus{outline:2px solid;outline-offset:2px}'
        . '@media print{.matbaa-print{display:none}}');
});

/* -- Telling Matbaa about changes ------------------------------------------------ */

add_action('wp_after_insert_post', 'matbaa_print_post_saved', 10, 4);

function matbaa_print_post_saved($post_id, $post, $update, $post_before) {
    if ($post->post_type !== 'post' || wp_is_post_revision($post_id) || wp_is_post_autosave($post_id)) {
        return;
    }
    $was_public = $post_before && $post_before->post_status === 'publish';
    if ($post->post_status === 'publish' || $was_public) {
        matbaa_print_notify($post_id);
    }
}

add_action('trashed_post', 'matbaa_print_notify');
add_action('after_delete_post', 'matbaa_print_notify');

/** POST {service}/hooks/wordpress {"post_id": N}; Matbaa loads the post itself. */
function matbaa_print_notify($post_id) {
    $service = matbaa_print_service_url();
    if ($service === '') {
        return;
    }
    $headers = ['Content-Type' => 'application/json'];
    $key = (string) get_option(MATBAA_PRINT_KEY_OPTION, '');
    if ($key !== '') {
        $headers['Authorization'] = 'Bearer ' . $key;
    }
    $response = wp_remote_post($service . '/hooks/wordpress', [
        'headers' => $headers,
        'body' => wp_json_encode(['post_id' => (int) $post_id]),
        'timeout' => 5,
    ]);
    if (is_wp_error($response) || wp_remote_retrieve_response_code($response) >= 400) {
        // Publishing goes on: the PDF is then made when the first reader asks.
        error_log('matbaa-print: hook for post ' . (int) $post_id . ' failed: '
            . (is_wp_error($response) ? $response->get_error_message()
                                      : wp_remote_retrieve_response_code($response)));
    }
}

/* -- Settings → Matbaa ----------------------------------------------------------- */

add_action('admin_init', function () {
    register_setting('matbaa_print', MATBAA_PRINT_URL_OPTION, [
        'type' => 'string', 'sanitize_callback' => 'esc_url_raw', 'default' => '',
    ]);
    register_setting('matbaa_print', MATBAA_PRINT_KEY_OPTION, [
        'type' => 'string', 'sanitize_callback' => 'sanitize_text_field', 'default' => '',
    ]);
});

add_action('admin_menu', function () {
    add_options_page('Matbaa · مطبعة', 'Matbaa · مطبعة', 'manage_options', 'matbaa-print',
                     'matbaa_print_settings_page');
});

function matbaa_print_settings_page() {
    if (!current_user_can('manage_options')) {
        return;
    }
    ?>
    <div class="wrap">
      <h1>Matbaa · مطبعة</h1>
      <form method="post" action="options.php">
        <?php settings_fields('matbaa_print'); ?>
        <table class="form-table" role="presentation">
          <tr>
            <th scope="row"><label for="matbaa-url">عنوان خدمة مطبعة · Service URL</label></th>
            <td><input id="matbaa-url" name="<?php echo esc_attr(MATBAA_PRINT_URL_OPTION); ?>"
                       type="url" class="regular-text" dir="ltr"
                       value="<?php echo esc_attr(get_option(MATBAA_PRINT_URL_OPTION, '')); ?>"
                       placeholder="https://print.example.com"></td>
          </tr>
          <tr>
            <th scope="row"><label for="matbaa-key">مفتاح API · API key</label></th>
            <td><input id="matbaa-key" name="<?php echo esc_attr(MATBAA_PRINT_KEY_OPTION); ?>"
                       type="password" class="regular-text" dir="ltr" autocomplete="off"
                       value="<?php echo esc_attr(get_option(MATBAA_PRINT_KEY_OPTION, '')); ?>">
                <p class="description">One of the service's MATBAA_API_KEYS, used only to tell it about published and updated posts.</p></td>
          </tr>
        </table>
        <?php submit_button(); ?>
      </form>
    </div>
    <?php
}
