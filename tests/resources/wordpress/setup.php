<?php
// Sets up a fresh WordPress site for the tests and prints what it made as JSON.
// Usage: MATBAA_WP_CONFIG=NAME php setup.php LEAD_IMAGE.png
$_SERVER['HTTP_HOST'] = parse_url(getenv('MATBAA_WP_URL'), PHP_URL_HOST);
$_SERVER['WORDPRESS_CONFIG'] = getenv('MATBAA_WP_CONFIG');
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/media.php';
require_once ABSPATH . 'wp-admin/includes/file.php';
require_once ABSPATH . 'wp-admin/includes/image.php';

function must($value) {
    if (is_wp_error($value)) {
        fwrite(STDERR, $value->get_error_message() . "\n");
        exit(1);
    }
    return $value;
}

wp_install('الوطن العربي', 'admin', 'admin@example.invalid', true, '', wp_generate_password(24));
update_option('permalink_structure', '/%year%/%monthnum%/%postname%/');
update_option('timezone_string', 'Asia/Kuwait');
update_option('blogdescription', 'صحيفة يومية');
flush_rewrite_rules();

$author = must(wp_insert_user([
    'user_login' => 'reporter', 'user_pass' => wp_generate_password(24),
    'user_email' => 'reporter@example.invalid', 'display_name' => 'سارة المطيري',
    'role' => 'author',
]));
$news = must(wp_insert_term('محليات', 'category'));
$kuwait = must(wp_insert_term('الكويت', 'category', ['parent' => $news['term_id']]));
$tag = must(wp_insert_term('مجلس الأمة', 'post_tag'));

function post($fields) {
    return must(wp_insert_post(array_merge(['post_status' => 'publish'], $fields), true));
}

$body = <<<HTML
<!-- wp:paragraph -->
<p>عقد <strong>مجلس الوزراء</strong> اجتماعه الأسبوعي برئاسة سمو رئيس المجلس، وناقش تقرير <em>Kuwait Vision</em> لعام 2035 وخطة من 12 بنداً.</p>
<!-- /wp:paragraph -->
<!-- wp:paragraph -->
<p>وقال الوزير إن نسبة الإنجاز بلغت ٧٥٪، وإن الم<b>ر</b>حلة الثانية تبدأ في الربع الأول.</p>
<!-- /wp:paragraph -->
HTML;

$main = post([
    'post_title' => 'مجلس الوزراء يناقش «رؤية الكويت» في اجتماعه الأسبوعي',
    'post_name' => 'مجلس-الوزراء-يناقش-رؤية-الكويت',
    'post_content' => $body,
    'post_excerpt' => 'الحكومة تعرض نسبة الإنجاز في خطة التنمية',
    'post_author' => $author,
    'post_date' => '2026-05-10 09:30:00', 'post_date_gmt' => '2026-05-10 06:30:00',
    'post_category' => [$kuwait['term_id']],
    'tags_input' => ['مجلس الأمة'],
]);
$tmp = wp_tempnam('lead.png');
copy($argv[1], $tmp);
$media = must(media_handle_sideload(['name' => 'lead.png', 'tmp_name' => $tmp], $main,
    'اجتماع مجلس الوزراء', ['post_excerpt' => 'جانب من اجتماع مجلس الوزراء أمس']));
update_post_meta($media, '_wp_attachment_image_alt', 'قاعة الاجتماع');
set_post_thumbnail($main, $media);
// The site's own logo (Appearance → Customize → Site Identity), which the REST index names.
$logo_tmp = wp_tempnam('logo.png');
copy($argv[1], $logo_tmp);
$logo = must(media_handle_sideload(['name' => 'logo.png', 'tmp_name' => $logo_tmp], 0,
    'شعار الوطن العربي'));
set_theme_mod('custom_logo', $logo);

$plain = post([
    'post_title' => 'Matbaa: خبر بلا صورة',
    'post_content' => '<p>خبر قصير بلا صورة بارزة، فيه كلمة English واحدة ورقم 42.</p>',
    'post_author' => $author, 'post_category' => [$news['term_id']],
    'post_date' => '2026-05-11 08:00:00', 'post_date_gmt' => '2026-05-11 05:00:00',
]);
$draft = post(['post_title' => 'مسودة لم تنشر', 'post_content' => '<p>مسودة.</p>',
               'post_status' => 'draft', 'post_author' => $author]);
$private = post(['post_title' => 'خبر خاص', 'post_content' => '<p>خاص.</p>',
                 'post_status' => 'private', 'post_author' => $author]);

echo json_encode([
    'main' => $main, 'plain' => $plain, 'draft' => $draft, 'private' => $private,
    'media' => $media, 'logo' => $logo, 'author' => $author,
    'slug' => get_post_field('post_name', $main),
    'categories' => ['news' => $news['term_id'], 'kuwait' => $kuwait['term_id']],
    'tag' => $tag['term_id'],
], JSON_UNESCAPED_UNICODE) . "\n";
