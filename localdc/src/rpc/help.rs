//! `help.*`: the configuration clients load on connect.

use super::{now, ok, Ctx, RpcResult};
use fleetgram_tl::{enums, functions, types};

/// `help.getConfig`: this DC, every local DC as a `dcOption`, Telegram's usual limits.
pub(crate) fn get_config(ctx: &Ctx<'_>, _: functions::help::GetConfig) -> RpcResult {
    let now = now();
    let dc_options = ctx
        .shared
        .dcs
        .iter()
        .map(|d| {
            enums::DcOption::from(types::DcOption {
                ipv6: d.addr.is_ipv6(),
                id: d.id,
                ip_address: d.addr.ip().to_string(),
                port: d.addr.port() as i32,
                ..Default::default()
            })
        })
        .collect();
    ok(enums::Config::from(types::Config {
        date: now,
        expires: now + 3600,
        test_mode: false,
        this_dc: ctx.dc,
        dc_options,
        dc_txt_domain_name: "localdc".into(),
        chat_size_max: 200,
        megagroup_size_max: 200_000,
        forwarded_count_max: 100,
        online_update_period_ms: 210_000,
        offline_blur_timeout_ms: 5_000,
        offline_idle_timeout_ms: 30_000,
        online_cloud_timeout_ms: 300_000,
        notify_cloud_delay_ms: 30_000,
        notify_default_delay_ms: 1_500,
        push_chat_period_ms: 60_000,
        push_chat_limit: 2,
        edit_time_limit: 172_800,
        revoke_time_limit: i32::MAX,
        revoke_pm_time_limit: i32::MAX,
        rating_e_decay: 2_419_200,
        stickers_recent_limit: 200,
        channels_read_media_period: 604_800,
        call_receive_timeout_ms: 20_000,
        call_ring_timeout_ms: 90_000,
        call_connect_timeout_ms: 30_000,
        call_packet_timeout_ms: 10_000,
        me_url_prefix: "https://t.me/".into(),
        caption_length_max: 1024,
        message_length_max: 4096,
        webfile_dc_id: 1,
        ..Default::default()
    }))
}

/// `help.getNearestDc`: the DC asked is the nearest.
pub(crate) fn get_nearest_dc(ctx: &Ctx<'_>, _: functions::help::GetNearestDc) -> RpcResult {
    ok(enums::NearestDc::from(types::NearestDc {
        country: "ZZ".into(),
        this_dc: ctx.dc,
        nearest_dc: ctx.dc,
    }))
}
